#include "server/health.h"

#include <gtest/gtest.h>

#include <atomic>

namespace tb::server {
namespace {

using std::chrono::milliseconds;

// Polls until `check` holds, up to two seconds.
template <typename F>
bool Eventually(F check) {
  for (int i = 0; i < 200; ++i) {
    if (check()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

const HealthCheck* Find(const Readiness& r, const std::string& name) {
  for (const auto& check : r.checks)
    if (check.name == name) return &check;
  return nullptr;
}

TEST(HealthMonitor, FollowsTheStoreProbeTheWalAndShutdown) {
  std::atomic<bool> store_up = true;
  std::atomic<bool> wal_ok = true;
  HealthMonitor monitor(
      {.probe_interval = milliseconds(20), .probe_timeout = milliseconds(1000)},
      [&] { return wal_ok ? Status::Ok() : Status::Internal("wal is unusable after an I/O error: disk full"); },
      [&] { return store_up ? Status::Ok() : Status::Unavailable("connection refused"); });
  EXPECT_FALSE(monitor.Check().ready) << "not probed yet";
  monitor.Start();
  ASSERT_TRUE(Eventually([&] { return monitor.Check().ready; }));

  store_up = false;
  ASSERT_TRUE(Eventually([&] { return !monitor.Check().ready; }));
  Readiness r = monitor.Check();
  EXPECT_FALSE(Find(r, "object_store")->ok);
  EXPECT_NE(Find(r, "object_store")->detail.find("connection refused"), std::string::npos);
  EXPECT_TRUE(Find(r, "wal")->ok);
  const std::string json = ReadinessJson(r);
  EXPECT_NE(json.find("\"status\":\"not ready\""), std::string::npos) << json;
  EXPECT_NE(json.find("connection refused"), std::string::npos) << json;

  store_up = true;
  ASSERT_TRUE(Eventually([&] { return monitor.Check().ready; }));

  wal_ok = false;
  r = monitor.Check();
  EXPECT_FALSE(r.ready);
  EXPECT_NE(Find(r, "wal")->detail.find("disk full"), std::string::npos);
  wal_ok = true;
  EXPECT_TRUE(monitor.Check().ready);

  monitor.SetShuttingDown();
  r = monitor.Check();
  EXPECT_FALSE(r.ready);
  EXPECT_FALSE(Find(r, "shutdown")->ok);
}

TEST(HealthMonitor, AProbeThatHangsPastTheTimeoutIsNotReady) {
  std::atomic<bool> release = false;
  std::atomic<int> probes = 0;
  HealthMonitor monitor(
      {.probe_interval = milliseconds(10), .probe_timeout = milliseconds(50)}, [] { return Status::Ok(); },
      [&] {
        if (++probes > 1)
          while (!release) std::this_thread::sleep_for(milliseconds(5));
        return Status::Ok();
      });
  monitor.Start();
  ASSERT_TRUE(Eventually([&] { return probes >= 2; }));
  ASSERT_TRUE(Eventually([&] { return !monitor.Check().ready; }));
  EXPECT_NE(Find(monitor.Check(), "object_store")->detail.find("probe running"), std::string::npos);
  release = true;
  ASSERT_TRUE(Eventually([&] { return monitor.Check().ready; }));
}

}  // namespace
}  // namespace tb::server
