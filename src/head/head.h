// Head: the most recent spans, in memory, indexed for every search, visible as soon as the WAL
// has made them durable.
//
// Memory is bounded: callers Reserve() an estimate of a batch before writing it to the WAL and
// get RESOURCE_EXHAUSTED when the budget would be exceeded, so that back-pressure reaches clients
// before anything is acknowledged. Spans are kept exactly as written (never de-duplicated).
//
// Thread-safety: all methods may be called concurrently; inserts exclude readers briefly.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/span.h"
#include "query/trace_source.h"
#include "util/status.h"

namespace tb::head {

struct Options {
  uint64_t memory_budget_bytes = 1ull << 30;
};

// The estimated memory a batch will take in the head, index entries included. Deliberately errs
// high: it is what the budget is enforced against.
uint64_t EstimateMemory(const model::Traces& batch);

class Head;

// Memory promised to one batch between Reserve() and Insert(); released if dropped unused.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&& other) noexcept : head_(other.head_), bytes_(other.bytes_) { other.head_ = nullptr; }
  Reservation& operator=(Reservation&& other) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation() { Release(); }
  uint64_t bytes() const { return bytes_; }

 private:
  friend class Head;
  Reservation(Head* head, uint64_t bytes) : head_(head), bytes_(bytes) {}
  void Release();
  Head* head_ = nullptr;
  uint64_t bytes_ = 0;
};

struct HeadStats {
  uint64_t spans = 0;
  uint64_t traces = 0;
  uint64_t memory_bytes = 0;  // estimated, committed
  uint64_t reserved_bytes = 0;
  uint64_t budget_bytes = 0;
};

class Head final : public query::TraceSource {
 public:
  explicit Head(const Options& options);
  ~Head() override;

  // RESOURCE_EXHAUSTED if the budget is already used up, so that callers can refuse a request
  // before spending work on decoding it.
  Status CheckHasRoom() const;
  // Promises `bytes` of the budget to a batch, or RESOURCE_EXHAUSTED.
  Result<Reservation> Reserve(uint64_t bytes);
  // Adds a durable batch. `reservation` (may be empty, e.g. on WAL replay, which must never be
  // refused) is converted into committed memory.
  void Insert(model::Traces&& batch, Reservation reservation);
  // Number of spans the head holds for `id`.
  size_t SpanCount(const model::TraceId& id) const;
  // Drops every span.
  void Clear();
  HeadStats Stats() const;

  // query::TraceSource
  Status FindTraces(const query::SpanMatcher& matcher, size_t limit, std::vector<query::TraceHit>* hits) const override;
  Status ReadTrace(const model::TraceId& id, model::Traces* out) const override;
  Status Services(std::set<std::string>* out) const override;
  Status Operations(const std::string& service, const std::string& span_kind,
                    std::set<query::Operation>* out) const override;
  Status Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano, query::DependencyCounts* out) const override;

 private:
  friend class Reservation;
  struct Index;

  void Unreserve(uint64_t bytes);
  Status BudgetFull(uint64_t used, uint64_t bytes) const;

  const Options options_;
  std::atomic<uint64_t> reserved_bytes_{0};
  std::atomic<uint64_t> committed_bytes_{0};
  mutable std::shared_mutex mu_;
  std::unique_ptr<Index> index_;  // guarded by mu_
};

}  // namespace tb::head
