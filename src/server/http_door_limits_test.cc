// Limits seen through the HTTP query doors (/api and /api/v3, in process, over a real socket): the
// query worker pool out of threads answers 503, and answers larger than AnswerLimits are refused
// with 400 naming the limit.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <system_error>
#include <thread>

#include "model/random_traces.h"
#include "model/text.h"
#include "objstore/memory_store.h"
#include "server/access.h"
#include "server/api_v3_http.h"
#include "server/http_listener.h"
#include "server/http_server.h"
#include "server/jaeger_http_api.h"
#include "server/tenants.h"
#include "server/test_tenants.h"
#include "util/worker_pool.h"

namespace tb::server {
namespace {

class HttpDoorLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tenants_ = std::make_unique<TestTenants>(std::make_shared<objstore::MemoryStore>(), "tb_http_door_limits");
    ASSERT_TRUE(tenants_->ok());
    db_ = &tenants_->default_db();
    door_ = &tenants_->door();
  }
  void TearDown() override {
    if (listener_ != nullptr) listener_->Stop();
    tenants_.reset();
  }

  // Serves both query doors with `answers` on a free port of 127.0.0.1.
  httplib::Client Serve(const AnswerLimits& answers) {
    jaeger_api::RegisterRoutes(router_, *door_, 1 << 20, answers);
    api_v3::RegisterRoutes(router_, *door_, answers);
    listener_ = std::make_unique<HttpListener>(
        &router_, [](const HttpRequest&, HttpResponse&) { return false; }, HttpListenerOptions{});
    EXPECT_TRUE(listener_->Start("127.0.0.1", 0).ok());
    EXPECT_GT(listener_->port(), 0);
    return httplib::Client("127.0.0.1", listener_->port());
  }

  std::unique_ptr<TestTenants> tenants_;
  db::Db* db_ = nullptr;
  TenantDoor* door_ = nullptr;
  HttpRouter router_;
  std::unique_ptr<HttpListener> listener_;
};

TEST_F(HttpDoorLimitsTest, NoThreadLeftForTheQueryWorkersAnswers503NamingTheLimit) {
  // The trace lies in two blocks, so reading it asks two sources that may wait on storage at once.
  const model::Traces batch = model::RandomTraces(1);
  const model::TraceId id = batch.resource_spans[0].scope_spans[0].spans[0].trace_id;
  for (int block = 0; block < 2; ++block) {
    ASSERT_TRUE(db_->ingester().Ingest(model::Traces(batch)).ok());
    ASSERT_TRUE(db_->Flush().ok());
  }
  httplib::Client client = Serve(AnswerLimits{});
  const std::string path = "/api/traces/" + model::HexEncode(id);

  const std::shared_ptr<WorkerPool> before = SharedWorkerPool();
  SetSharedWorkerPool(std::make_shared<WorkerPool>(
      WorkerPool::Limits{.workers = 3, .queue = 8}, [](std::function<void()>) -> std::thread {
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
      }));
  auto refused = client.Get(path);
  SetSharedWorkerPool(before);
  auto served = client.Get(path);

  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("limits.query_workers=3"), std::string::npos) << refused->body;
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->body;
}

// A query whose client has gone (a closed browser tab) stops at its next step with CANCELLED; a
// client that waits gets its answer.
TEST_F(HttpDoorLimitsTest, AQueryStopsOnceItsClientHasGone) {
  std::promise<StatusCode> waited, left;
  GetWithTenant(
      router_, "/probe", *door_, [](HttpResponse& res, const Status& s) { res.status = HttpStatusFor(s.code()); },
      [&](const query::QueryEngine& engine, const HttpRequest& req, HttpResponse& res) {
        const bool leaving = req.Param("leave") == "1";
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (leaving && !req.client_gone() && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        const Status status = engine.FindTraceIds(query::TraceQuery{}).status();
        (leaving ? left : waited).set_value(status.code());
        res.status = status.ok() ? 200 : HttpStatusFor(status.code());
      });
  httplib::Client client = Serve(AnswerLimits{});
  auto answer = client.Get("/probe?leave=0");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(waited.get_future().get(), StatusCode::kOk);

  httplib::Client impatient("127.0.0.1", listener_->port());
  impatient.set_read_timeout(0, 300'000);  // gives up after 300 ms and closes its connection
  EXPECT_FALSE(impatient.Get("/probe?leave=1"));
  EXPECT_EQ(left.get_future().get(), StatusCode::kCancelled);
}

// A trace of 5 spans and one of 25: with room for 10 spans both doors serve the small one and
// refuse the large one, and a search reaching it, with 400 naming the limit; a byte limit smaller
// than the small trace's answer refuses that too.
TEST_F(HttpDoorLimitsTest, AnswersPastTheirLimitsAreRefusedNamingTheLimit) {
  model::Traces small = model::RandomTraces(2, {1, 1, 5, 1});
  model::Traces large = model::RandomTraces(3, {1, 1, 25, 1});
  const std::string small_id = model::HexEncode(small.resource_spans[0].scope_spans[0].spans[0].trace_id);
  const std::string large_id = model::HexEncode(large.resource_spans[0].scope_spans[0].spans[0].trace_id);
  ASSERT_TRUE(db_->ingester().Ingest(std::move(small)).ok());
  ASSERT_TRUE(db_->ingester().Ingest(std::move(large)).ok());
  httplib::Client client = Serve(AnswerLimits{.max_spans = 10, .max_bytes = 0});
  for (const std::string door : {"/api/traces/", "/api/v3/traces/"}) {
    auto served = client.Get(door + small_id);
    ASSERT_TRUE(served);
    EXPECT_EQ(served->status, 200) << door << ": " << served->body;
    auto refused = client.Get(door + large_id);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << door;
    EXPECT_NE(refused->body.find("more than limits.max_answer_spans (10 spans)"), std::string::npos) << refused->body;
  }
  auto search = client.Get("/api/traces?traceID=" + small_id + "&traceID=" + large_id);
  ASSERT_TRUE(search);
  EXPECT_EQ(search->status, 400) << search->body;
  EXPECT_NE(search->body.find("limits.max_answer_spans"), std::string::npos) << search->body;
}

TEST_F(HttpDoorLimitsTest, AnswersPastTheByteLimitAreRefusedNamingTheLimit) {
  model::Traces small = model::RandomTraces(2, {1, 1, 5, 1});
  const std::string id = model::HexEncode(small.resource_spans[0].scope_spans[0].spans[0].trace_id);
  ASSERT_TRUE(db_->ingester().Ingest(std::move(small)).ok());
  httplib::Client client = Serve(AnswerLimits{.max_spans = 0, .max_bytes = 300});
  for (const std::string door : {"/api/traces/", "/api/v3/traces/"}) {
    auto refused = client.Get(door + id);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << door;
    EXPECT_NE(refused->body.find("more than limits.max_answer_size (300 bytes)"), std::string::npos) << refused->body;
  }
}

}  // namespace
}  // namespace tb::server
