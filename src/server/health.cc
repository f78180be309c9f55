#include "server/health.h"

#include <nlohmann/json.hpp>

namespace tb::server {

std::string ReadinessJson(const Readiness& readiness) {
  nlohmann::json checks = nlohmann::json::object();
  for (const HealthCheck& check : readiness.checks) checks[check.name] = {{"ok", check.ok}, {"detail", check.detail}};
  return nlohmann::json{{"status", readiness.ready ? "ready" : "not ready"}, {"checks", checks}}.dump() + "\n";
}

HealthMonitor::HealthMonitor(HealthOptions options, std::function<Status()> wal_writable,
                             std::function<Status()> probe_store)
    : options_(options), wal_writable_(std::move(wal_writable)), probe_store_(std::move(probe_store)) {}

HealthMonitor::~HealthMonitor() { Stop(); }

void HealthMonitor::Start() {
  if (!prober_.joinable()) prober_ = std::thread([this] { ProbeLoop(); });
}

void HealthMonitor::SetShuttingDown() {
  shutting_down_ = true;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
}

void HealthMonitor::Stop() {
  SetShuttingDown();
  if (prober_.joinable()) prober_.join();
}

std::chrono::steady_clock::time_point HealthMonitor::Now() const {
  return options_.clock ? options_.clock() : std::chrono::steady_clock::now();
}

void HealthMonitor::ProbeLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    probe_started_ = Now();
    lock.unlock();
    Status result = probe_store_();
    lock.lock();
    probe_started_.reset();
    last_probe_ = std::move(result);
    wake_.wait_for(lock, options_.probe_interval, [this] { return stopping_; });
  }
}

Readiness HealthMonitor::Check() const {
  Readiness r;
  const Status wal = wal_writable_();
  r.checks.push_back({"wal", wal.ok(), wal.ok() ? "replayed and writable" : wal.ToString()});

  HealthCheck store{"object_store", false, ""};
  {
    std::lock_guard lock(mu_);
    if (probe_started_ && Now() - *probe_started_ > options_.probe_timeout) {
      store.detail = "probe running for over " + std::to_string(options_.probe_timeout.count()) + " ms";
    } else if (!last_probe_) {
      store.detail = "not probed yet";
    } else if (!last_probe_->ok()) {
      store.detail = "last probe failed: " + last_probe_->ToString();
    } else {
      store.ok = true;
      store.detail = "reachable at the last probe";
    }
  }
  r.checks.push_back(std::move(store));

  const bool draining = shutting_down_;
  r.checks.push_back({"shutdown", !draining, draining ? "shutting down" : "serving"});
  r.ready = true;
  for (const HealthCheck& check : r.checks) r.ready = r.ready && check.ok;
  return r;
}

}  // namespace tb::server
