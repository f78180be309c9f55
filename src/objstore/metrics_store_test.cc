#include "objstore/metrics_store.h"

#include <gtest/gtest.h>

#include "metrics/metrics.h"
#include "metrics/testing.h"
#include "objstore/memory_store.h"

namespace tb::objstore {
namespace {

using metrics::ExposedValue;

TEST(MetricsStoreTest, CountsCallsByOperationAndStatusAndBytes) {
  metrics::Metrics m(metrics::CurrentBuild(), "default");
  MetricsStore store(std::make_shared<MemoryStore>(), &m.object_store());
  ASSERT_TRUE(store.Put("a", std::string(1000, 'a')).ok());
  EXPECT_EQ(store.Put("a", "x", PutMode::kCreateOnly).code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(store.Get("a", 100, 50).ok());
  EXPECT_EQ(store.Get("missing").status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(store.Head("a").ok());
  ASSERT_TRUE(store.List("", "").ok());
  ASSERT_TRUE(store.Delete({"a", "b"}).ok());

  const std::string text = m.Scrape();
  auto requests = [&](const char* op, const char* status) {
    return ExposedValue(
        text, std::string("tracebucket_objstore_requests_total{operation=\"") + op + "\",status=\"" + status + "\"}");
  };
  EXPECT_EQ(requests("put", "ok"), 1);
  EXPECT_EQ(requests("put", "already_exists"), 1);
  EXPECT_EQ(requests("get", "ok"), 1);
  EXPECT_EQ(requests("get", "not_found"), 1);
  EXPECT_EQ(requests("head", "ok"), 1);
  EXPECT_EQ(requests("list", "ok"), 1);
  EXPECT_EQ(requests("delete", "ok"), 1);
  EXPECT_EQ(requests("delete", "unavailable"), 0);
  EXPECT_EQ(ExposedValue(text, "tracebucket_objstore_written_bytes_total"), 1000);  // the refused put moved nothing
  EXPECT_EQ(ExposedValue(text, "tracebucket_objstore_read_bytes_total"), 50);
  EXPECT_EQ(ExposedValue(text, R"(tracebucket_objstore_request_duration_seconds_count{operation="get"})"), 2);
  EXPECT_EQ(store.Describe(), "mem://");
}

}  // namespace
}  // namespace tb::objstore
