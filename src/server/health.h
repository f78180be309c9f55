// Liveness and readiness. /live says the process answers; /ready says it should get traffic: the
// WAL was replayed and takes writes, the object store answered the last periodic probe, and the
// server is not shutting down. Each check carries the reason it fails, for the JSON body.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "util/status.h"

namespace tb::server {

struct HealthCheck {
  std::string name;  // "wal", "object_store", "shutdown"
  bool ok = false;
  std::string detail;  // why it fails, or what was checked
};

struct Readiness {
  bool ready = false;
  std::vector<HealthCheck> checks;
};

// {"status":"ready"|"not ready","checks":{name:{"ok":..,"detail":..}}}; JSON escaping by nlohmann.
std::string ReadinessJson(const Readiness& readiness);

struct HealthOptions {
  std::chrono::milliseconds probe_interval{std::chrono::seconds(10)};
  // A probe still running after this long counts as failed: the store is not reachable in time.
  std::chrono::milliseconds probe_timeout{std::chrono::seconds(2)};
  // The time probe_timeout is measured in. Null: std::chrono::steady_clock::now; tests pass a clock
  // they move themselves.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

class HealthMonitor {
 public:
  // `wal_writable` is asked on every Check; `probe_store` runs on the monitor's own thread every
  // probe_interval (and once in Start, before which the store counts as unchecked).
  HealthMonitor(HealthOptions options, std::function<Status()> wal_writable, std::function<Status()> probe_store);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Starts the periodic probe; the first one runs at once.
  void Start();
  // From here on the process is not ready (it is draining). Ends the probe loop without waiting
  // for a probe in flight; the destructor waits for it.
  void SetShuttingDown();
  Readiness Check() const;

 private:
  void ProbeLoop();
  void Stop();
  std::chrono::steady_clock::time_point Now() const;

  const HealthOptions options_;
  const std::function<Status()> wal_writable_;
  const std::function<Status()> probe_store_;
  std::atomic<bool> shutting_down_ = false;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                                               // GUARDED_BY(mu_)
  std::optional<Status> last_probe_;                                    // GUARDED_BY(mu_); unset: none done
  std::optional<std::chrono::steady_clock::time_point> probe_started_;  // GUARDED_BY(mu_); set while one runs
  std::thread prober_;
};

}  // namespace tb::server
