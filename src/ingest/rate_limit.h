// SpanRateLimiter: one tenant's ingest rate, as a token bucket of spans that refills at
// spans_per_second up to `burst`.
//
// A batch passes when the bucket holds min(batch, burst) spans, and then takes all of its spans,
// so the bucket may go below zero: a batch larger than the burst passes once the bucket is full
// instead of never, and the debt it leaves keeps the average at the configured rate.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

#include "util/status.h"

namespace tb::ingest {

class SpanRateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // spans_per_second 0: no limit. burst 0: one second's spans. The bucket starts full.
  SpanRateLimiter(uint64_t spans_per_second, uint64_t burst, Clock clock = {});

  // Takes `spans`, or RESOURCE_EXHAUSTED (retry later) when the bucket is too low for them.
  Status Take(uint64_t spans);
  // RESOURCE_EXHAUSTED when no batch could pass now (the bucket is empty or in debt): lets a door
  // refuse a request before decoding it.
  Status CheckHasRoom();

 private:
  // Adds what the time since the last call earned, up to the burst. Needs mu_.
  void RefillLocked();
  Status Exhausted() const;

  const double rate_;   // spans per second; 0: unlimited
  const double burst_;  // the bucket's size
  const Clock clock_;
  std::mutex mu_;
  double tokens_;                               // GUARDED_BY(mu_); below zero after a batch larger than what was there
  std::chrono::steady_clock::time_point last_;  // GUARDED_BY(mu_)
};

}  // namespace tb::ingest
