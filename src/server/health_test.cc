#include "server/health.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "util/test_sync.h"

namespace tb::server {
namespace {

using std::chrono::milliseconds;

// The object-store probe, answered by the test: each probe waits for the next answer the test
// gives, so the test knows which answers the monitor has taken in without sleeping or polling.
class ScriptedProbe {
 public:
  // On the monitor's thread. After Close, every probe answers OK at once.
  Status Run() {
    std::unique_lock lock(mu_);
    ++started_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !answers_.empty() || closed_; });
    if (answers_.empty()) return Status::Ok();
    Status answer = std::move(answers_.front());
    answers_.pop_front();
    return answer;
  }
  void Answer(Status answer) {
    {
      std::lock_guard lock(mu_);
      answers_.push_back(std::move(answer));
    }
    changed_.notify_all();
  }
  // Waits until the monitor has started its n-th probe, and so recorded the answers of the ones
  // before; false if it did not within a bound only a broken monitor reaches.
  bool WaitForProbe(int n) {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(20), [&] { return started_ >= n; });
  }
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Status> answers_;  // GUARDED_BY(mu_)
  int started_ = 0;             // GUARDED_BY(mu_)
  bool closed_ = false;         // GUARDED_BY(mu_)
};

// A monitor whose store probe is scripted and whose clock moves only when the test says so. The
// probes follow each other as fast as the test answers them (probe_interval 0).
struct ScriptedMonitor {
  explicit ScriptedMonitor(milliseconds probe_timeout)
      : monitor(
            {.probe_interval = milliseconds(0), .probe_timeout = probe_timeout, .clock = clock.Function()},
            [this] {
              return wal_ok ? Status::Ok() : Status::Internal("wal is unusable after an I/O error: disk full");
            },
            [this] { return probe.Run(); }) {}
  ~ScriptedMonitor() { probe.Close(); }  // before the monitor's destructor waits for its probe

  std::atomic<bool> wal_ok = true;
  ScriptedProbe probe;
  test_sync::ManualSteadyClock clock;
  HealthMonitor monitor;
};

const HealthCheck* Find(const Readiness& r, const std::string& name) {
  for (const auto& check : r.checks)
    if (check.name == name) return &check;
  return nullptr;
}

TEST(HealthMonitor, FollowsTheStoreProbeTheWalAndShutdown) {
  ScriptedMonitor m(milliseconds(1000));
  EXPECT_FALSE(m.monitor.Check().ready) << "not probed yet";
  m.monitor.Start();
  ASSERT_TRUE(m.probe.WaitForProbe(1));
  Readiness r = m.monitor.Check();
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(Find(r, "object_store")->detail, "not probed yet");  // the first probe is still running
  m.probe.Answer(Status::Ok());
  ASSERT_TRUE(m.probe.WaitForProbe(2));
  EXPECT_TRUE(m.monitor.Check().ready);

  m.probe.Answer(Status::Unavailable("connection refused"));
  ASSERT_TRUE(m.probe.WaitForProbe(3));
  r = m.monitor.Check();
  EXPECT_FALSE(r.ready);
  EXPECT_FALSE(Find(r, "object_store")->ok);
  EXPECT_NE(Find(r, "object_store")->detail.find("connection refused"), std::string::npos);
  EXPECT_TRUE(Find(r, "wal")->ok);
  const std::string json = ReadinessJson(r);
  EXPECT_NE(json.find("\"status\":\"not ready\""), std::string::npos) << json;
  EXPECT_NE(json.find("connection refused"), std::string::npos) << json;

  m.probe.Answer(Status::Ok());
  ASSERT_TRUE(m.probe.WaitForProbe(4));
  EXPECT_TRUE(m.monitor.Check().ready);

  m.wal_ok = false;
  r = m.monitor.Check();
  EXPECT_FALSE(r.ready);
  EXPECT_NE(Find(r, "wal")->detail.find("disk full"), std::string::npos);
  m.wal_ok = true;
  EXPECT_TRUE(m.monitor.Check().ready);

  m.monitor.SetShuttingDown();
  r = m.monitor.Check();
  EXPECT_FALSE(r.ready);
  EXPECT_FALSE(Find(r, "shutdown")->ok);
}

// A probe running for longer than probe_timeout counts as failed, one running for no longer than
// it does not; once it answers, its answer counts.
TEST(HealthMonitor, AProbeThatHangsPastTheTimeoutIsNotReady) {
  ScriptedMonitor m(milliseconds(50));
  m.monitor.Start();
  ASSERT_TRUE(m.probe.WaitForProbe(1));
  m.probe.Answer(Status::Ok());
  ASSERT_TRUE(m.probe.WaitForProbe(2));  // the second probe hangs until answered
  EXPECT_TRUE(m.monitor.Check().ready);
  m.clock.Advance(milliseconds(50));
  EXPECT_TRUE(m.monitor.Check().ready);
  m.clock.Advance(milliseconds(1));
  const Readiness r = m.monitor.Check();
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(Find(r, "object_store")->detail, "probe running for over 50 ms");
  m.probe.Answer(Status::Ok());
  ASSERT_TRUE(m.probe.WaitForProbe(3));
  EXPECT_TRUE(m.monitor.Check().ready);
}

}  // namespace
}  // namespace tb::server
