// The query worker pool seen through a door: when parallel reads need a thread and the process
// cannot start one, GET /api/traces/{id} answers 503 naming the limit, and the server goes on.
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>

#include "model/random_traces.h"
#include "model/text.h"
#include "objstore/memory_store.h"
#include "server/access.h"
#include "server/jaeger_http_api.h"
#include "server/tenants.h"
#include "util/worker_pool.h"

namespace tb::server {
namespace {

TEST(QueryWorkersDoor, NoThreadLeftAnswers503NamingTheLimit) {
  std::string dir = ::testing::TempDir() + "tb_query_workers_XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto tenants = Tenants::Open(
      dir, 64 << 20, 10,
      [](const std::string&) {
        db::DbOptions options;
        options.background_flush = false;
        options.background_compaction = false;
        return options;
      },
      std::make_shared<objstore::MemoryStore>());
  ASSERT_TRUE(tenants.ok()) << tenants.status().ToString();
  auto policy = AccessPolicy::Open(Config{});
  ASSERT_TRUE(policy.ok());
  auto db = (*tenants)->Get("default");
  ASSERT_TRUE(db.ok());
  // The trace lies in two blocks, so reading it asks two sources that may wait on storage at once.
  const model::Traces batch = model::RandomTraces(1);
  const model::TraceId id = batch.resource_spans[0].scope_spans[0].spans[0].trace_id;
  for (int block = 0; block < 2; ++block) {
    ASSERT_TRUE((*db)->ingester().Ingest(model::Traces(batch)).ok());
    ASSERT_TRUE((*db)->Flush().ok());
  }

  const TenantDoor door(&*policy, tenants->get());
  httplib::Server http;
  jaeger_api::RegisterRoutes(http, door, 1 << 20);
  const int port = http.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { http.listen_after_bind(); });
  httplib::Client client("127.0.0.1", port);
  const std::string path = "/api/traces/" + model::HexEncode(id);

  const std::shared_ptr<WorkerPool> before = SharedWorkerPool();
  SetSharedWorkerPool(std::make_shared<WorkerPool>(
      WorkerPool::Limits{.workers = 3, .queue = 8}, [](std::function<void()>) -> std::thread {
        throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
      }));
  auto refused = client.Get(path);
  SetSharedWorkerPool(before);
  auto served = client.Get(path);

  http.stop();
  serving.join();
  EXPECT_TRUE((*tenants)->Close().ok());
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("limits.query_workers=3"), std::string::npos) << refused->body;
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->body;
}

}  // namespace
}  // namespace tb::server
