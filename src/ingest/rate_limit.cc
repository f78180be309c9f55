#include "ingest/rate_limit.h"

#include <algorithm>
#include <string>

namespace tb::ingest {

SpanRateLimiter::SpanRateLimiter(uint64_t spans_per_second, uint64_t burst, Clock clock)
    : rate_(static_cast<double>(spans_per_second)),
      burst_(static_cast<double>(burst != 0 ? burst : spans_per_second)),
      clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }),
      tokens_(burst_),
      last_(clock_()) {}

void SpanRateLimiter::RefillLocked() {
  const auto now = clock_();
  if (now <= last_) return;
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + seconds * rate_);
  last_ = now;
}

Status SpanRateLimiter::Exhausted() const {
  return Status::ResourceExhausted("ingest rate limit: " + std::to_string(static_cast<uint64_t>(rate_)) +
                                   " spans/s with a burst of " + std::to_string(static_cast<uint64_t>(burst_)) +
                                   " spans (limits.ingest_spans_per_second); retry later");
}

Status SpanRateLimiter::Take(uint64_t spans) {
  if (rate_ == 0 || spans == 0) return Status::Ok();
  std::lock_guard lock(mu_);
  RefillLocked();
  if (tokens_ < std::min(static_cast<double>(spans), burst_)) return Exhausted();
  tokens_ -= static_cast<double>(spans);
  return Status::Ok();
}

Status SpanRateLimiter::CheckHasRoom() {
  if (rate_ == 0) return Status::Ok();
  std::lock_guard lock(mu_);
  RefillLocked();
  return tokens_ < 1 ? Exhausted() : Status::Ok();
}

}  // namespace tb::ingest
