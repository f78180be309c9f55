// Ingester: the write path. Validated batches are trimmed to the configured limits, reserved in the
// head's memory budget, made durable in the WAL, and only then inserted into the head and
// acknowledged. Nothing is acknowledged that a restart would not bring back.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "head/head.h"
#include "ingest/rate_limit.h"
#include "metrics/handles.h"
#include "model/span.h"
#include "util/status.h"
#include "wal/wal.h"

namespace tb::ingest {

// Per-span limits trim and count (dropped_*_count); per-trace limits reject spans (partial success).
struct Limits {
  uint64_t max_request_bytes = 64ull << 20;  // enforced by the transports before decoding
  uint32_t max_attributes_per_span = 128;    // also per resource, scope, event and link
  uint32_t max_attribute_value_bytes = 16 << 10;
  // Every other string of a span, its resource and scope: attribute keys, span, event and scope
  // names, scope version, status message, trace states, schema URLs.
  uint32_t max_string_bytes = 4 << 10;
  // Elements of one array or key-value-list value, at every depth; the rest are dropped.
  uint32_t max_array_values = 1024;
  uint32_t max_events_per_span = 256;
  uint32_t max_links_per_span = 128;
  uint64_t max_spans_per_trace = 100'000;
  // The tenant's ingest rate (SpanRateLimiter): over it, writes get RESOURCE_EXHAUSTED. 0: no limit;
  // burst 0: one second's spans.
  uint64_t ingest_spans_per_second = 0;
  uint64_t ingest_burst_spans = 0;
};

// How a write waits for room when the head's memory budget is used up (head.admission_wait).
// Refused senders back off, and on a busy core the process would idle until they came back; a
// flush in progress frees the room, so a short wait turns its stall into latency instead. Waiting
// writes are not served in order: a write that arrives as room comes may take it first.
struct Admission {
  std::chrono::milliseconds wait{0};   // the longest a write waits; 0 refuses at once
  metrics::HistogramRef wait_seconds;  // one observation per wait, whether room came or not
};

// What happened to one accepted request.
struct IngestResult {
  uint64_t accepted_spans = 0;
  uint64_t rejected_spans = 0;
  std::string message;  // why spans were rejected or trimmed; empty if nothing was
};

// The active head, frozen by Cut() so that it can be flushed, and the WAL position it covers.
struct CutHead {
  std::shared_ptr<head::Head> head;
  uint64_t wal_last_sequence = 0;  // every record up to here is in `head` or an earlier cut
};

class Ingester {
 public:
  using Clock = std::chrono::steady_clock;

  // Runs after a write's accepted spans are durable and visible, before Ingest returns, outside the
  // exclusion that Cut and Purge take (so it may call them). Its error becomes the write's error;
  // the spans stay stored. Db uses it for DbOptions::flush_every_write.
  using AfterWrite = std::function<Status()>;

  // `clock` paces the ingest rate limit (tests substitute their own).
  Ingester(const Limits& limits, std::shared_ptr<head::Head> head, wal::Wal* wal, Admission admission = {},
           AfterWrite after_write = {}, SpanRateLimiter::Clock clock = {})
      : limits_(limits),
        rate_(limits.ingest_spans_per_second, limits.ingest_burst_spans, std::move(clock)),
        admission_(admission),
        head_(std::move(head)),
        wal_(wal),
        after_write_(std::move(after_write)) {}

  // Returns once the accepted spans are durable and visible (and `after_write` has run).
  // RESOURCE_EXHAUSTED when the head is full and stays so until `wait_until` (AdmissionDeadline;
  // the default, in the past, refuses at once), or the tenant is over its ingest rate
  // (back-pressure; retry later); UNAVAILABLE when the WAL cannot write.
  //
  // `received`, when not empty, must be the OTLP protobuf ExportTraceServiceRequest (or TracesData)
  // that `batch` was decoded from: if no limit changes the batch, those bytes become the WAL record
  // as they are, which saves encoding the batch again (replay decodes them to the same spans).
  Result<IngestResult> Ingest(model::Traces&& batch, std::string_view received = {}, Clock::time_point wait_until = {});

  // RESOURCE_EXHAUSTED when the ingest rate is used up, or the head is full and stays so until
  // `wait_until`: lets a door refuse a request before decoding it. A door passes the same
  // `wait_until` here and to Ingest, so that one write waits at most Admission::wait in all.
  Status CheckCapacity(Clock::time_point wait_until = {});
  // Until when a write that arrives now may wait for room: Admission::wait from now, and no later
  // than `limit` (the client's own deadline, less the time to answer it).
  Clock::time_point AdmissionDeadline(Clock::time_point limit = Clock::time_point::max()) const {
    return std::min(Clock::now() + admission_.wait, limit);
  }

  // Swaps in `fresh` as the active head, with no ingest in flight, and returns the old one with
  // the last WAL sequence it holds.
  CutHead Cut(std::shared_ptr<head::Head> fresh);
  std::shared_ptr<head::Head> active_head() const;

  // Deletes every span of the active head and the WAL, with no ingest in flight. Runs `also`
  // (e.g. deleting blocks) under the same exclusion.
  Status Purge(const std::function<Status()>& also = {});

  // Replays the WAL records after `covered_through` (those before are in blocks) into `head` and
  // opens the WAL for appends. Replay ignores the memory budget: everything acknowledged before a
  // crash is served after it, except spans that started before `expired_before` (retention; 0
  // keeps all), which are dropped and counted in `*expired_spans`.
  static Result<std::unique_ptr<wal::Wal>> RecoverWal(const wal::Options& options, uint64_t covered_through,
                                                      uint64_t expired_before, uint64_t* expired_spans,
                                                      head::Head* head, wal::ReplayStats* stats);

  const Limits& limits() const { return limits_; }

 private:
  // Ingest without the after-write step: trims, reserves, appends to the WAL, inserts.
  Result<IngestResult> Store(model::Traces&& batch, std::string_view received, Clock::time_point wait_until);

  const Limits limits_;
  SpanRateLimiter rate_;
  const Admission admission_;
  mutable std::mutex head_mu_;        // guards the head_ pointer
  std::shared_ptr<head::Head> head_;  // the active head
  wal::Wal* const wal_;
  const AfterWrite after_write_;
  std::shared_mutex exclusive_mu_;  // ingests share it; Cut and Purge take it exclusively
};

struct LimitsApplied {
  uint64_t truncated_values = 0;   // attribute values (strings or bytes) cut to max_attribute_value_bytes
  uint64_t truncated_strings = 0;  // other strings cut to max_string_bytes
  uint64_t dropped_elements = 0;   // array and key-value-list elements beyond max_array_values
  bool changed = false;            // anything trimmed at all
};

// Trims attribute counts, value lengths, string lengths, array sizes, events and links to
// `limits`, adding what was removed to the dropped counts where OTLP has one.
LimitsApplied ApplySpanLimits(const Limits& limits, model::Traces* batch);

}  // namespace tb::ingest
