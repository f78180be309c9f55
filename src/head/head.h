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
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/span.h"
#include "query/trace_source.h"
#include "util/status.h"

namespace tb::head {

// Memory shared by every head of a process: the active one and those being flushed. A budget may
// have a parent (a tenant's share of the process's budget): every byte taken from it is taken from
// the parent too, so both limits hold. Thread-safe.
class MemoryBudget {
 public:
  // `name` says what the budget is in a refusal ("head memory budget", "tenant a's head share").
  explicit MemoryBudget(uint64_t limit_bytes, std::shared_ptr<MemoryBudget> parent = nullptr,
                        std::string name = "head memory budget")
      : limit_(limit_bytes), parent_(std::move(parent)), name_(std::move(name)) {}
  // Takes `bytes` if they fit under this limit and every parent's; nothing is taken otherwise.
  bool TryAcquire(uint64_t bytes);
  // Takes `bytes` even beyond the limits (WAL replay: acknowledged data is always served).
  void ForceAcquire(uint64_t bytes);
  void Release(uint64_t bytes);
  // Waits until `bytes` more fit this budget and every parent's, or until `deadline`. True if they
  // fitted when it returned; the room is not kept for the caller (another writer may take it, so
  // callers try TryAcquire again). False at once if `bytes` exceed a limit outright.
  bool WaitForRoom(uint64_t bytes, std::chrono::steady_clock::time_point deadline) const;
  // The first budget, from this one up, that has no room for `bytes` more; nullptr if all have.
  const MemoryBudget* FullFor(uint64_t bytes) const;
  uint64_t used() const { return used_.load(); }
  uint64_t limit() const { return limit_; }
  const std::string& name() const { return name_; }

 private:
  const uint64_t limit_;
  const std::shared_ptr<MemoryBudget> parent_;
  const std::string name_;
  std::atomic<uint64_t> used_{0};
  // Wakes the writers waiting for room anywhere under the root budget (WaitForRoom): after every
  // release, which reaches the root, and after a refused TryAcquire's undo.
  void WakeWaiters() const;
  // The budget at the top of this one's chain of parents, where the waiters wait.
  const MemoryBudget& Root() const;
  // On the root budget only.
  mutable std::mutex room_mu_;
  mutable std::condition_variable room_cv_;
};

struct Options {
  uint64_t memory_budget_bytes = 320ull << 20;  // the server default (db::DbOptions)
  // When set, the head draws from this budget (shared with other heads) and memory_budget_bytes
  // is ignored.
  std::shared_ptr<MemoryBudget> shared_budget;
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
  uint64_t memory_bytes = 0;  // estimated, committed by this head
  uint64_t reserved_bytes = 0;
  uint64_t budget_used_bytes = 0;  // by every head sharing the budget
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
  // The budget this head draws from, to wait for room on (MemoryBudget::WaitForRoom) without
  // holding the head: a full head's memory comes back only once nothing holds it.
  const std::shared_ptr<MemoryBudget>& budget() const { return budget_; }
  // Adds a durable batch. `reservation` (may be empty, e.g. on WAL replay, which must never be
  // refused) is converted into committed memory.
  void Insert(model::Traces&& batch, Reservation reservation);
  // Number of spans the head holds for `id`.
  size_t SpanCount(const model::TraceId& id) const;
  // Calls `visit` for every span in arrival order, with its resource and scope, until it returns
  // false; returns false if it stopped early. The references stay valid and unchanged until
  // Clear() or destruction (inserts never move stored spans), so a frozen head can hand its spans
  // to a block writer without copying them.
  bool ForEachSpan(
      const std::function<bool(const model::Resource&, const model::Scope&, const model::Span&)>& visit) const;
  // Drops every span.
  void Clear();
  HeadStats Stats() const;

  // query::TraceSource
  std::string Name() const override { return "head"; }
  Status FindTraces(const query::SpanMatcher& matcher, size_t limit, std::vector<query::TraceHit>* hits) const override;
  Status ReadTrace(const model::TraceId& id, model::Traces* out) const override;
  Status TraceRanges(const std::vector<model::TraceId>& ids, std::vector<query::TraceHit>* out) const override;
  Status Services(std::set<std::string>* out) const override;
  Status Operations(const std::string& service, const std::string& span_kind,
                    std::set<query::Operation>* out) const override;
  Status TracesInWindow(uint64_t start_unix_nano, uint64_t end_unix_nano,
                        std::vector<query::TraceHit>* out) const override;
  Status Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano, query::DependencyCounts* out) const override;

 private:
  friend class Reservation;
  struct Index;

  void Unreserve(uint64_t bytes);
  // RESOURCE_EXHAUSTED naming the budget that has no room for `bytes` (0: is already full).
  Status BudgetFull(uint64_t bytes) const;

  const std::shared_ptr<MemoryBudget> budget_;
  std::atomic<uint64_t> reserved_bytes_{0};   // held by this head's reservations
  std::atomic<uint64_t> committed_bytes_{0};  // taken by inserted spans; returned on Clear and destruction
  mutable std::shared_mutex mu_;
  std::unique_ptr<Index> index_;  // guarded by mu_
};

}  // namespace tb::head
