// FaultStore: makes chosen calls to another store fail, for tests of error handling, retries and
// crash recovery.
//
//   auto faults = std::make_shared<FaultStore>(memory);
//   faults->FailWhen([](StoreOp op, std::string_view key) { return op == StoreOp::kGet && key.ends_with(".idx"); },
//                    Status::Unavailable("injected"));
//   faults->FailNthMutation(3, Status(StatusCode::kDeadlineExceeded, "injected"), FaultTiming::kAfter);
//   faults->CrashAfterMutations(5);  // flush test: the process "dies" after 5 puts/deletes
//   ... run the code under test on `faults`, then check what reached `memory` ...
//
// Faults are checked in this order: crashed, crash point, FailNthMutation, FailWhen rules (in the
// order added). Put and Delete are mutations; Get, Head and List are reads.
//
// Thread-safety: every method may be called concurrently. Predicates run under the store's lock:
// they must not call the store.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace tb::objstore {

enum class StoreOp { kPut, kGet, kHead, kList, kDelete };
std::string_view StoreOpName(StoreOp op);  // "PUT", "GET", ...
inline bool IsMutation(StoreOp op) { return op == StoreOp::kPut || op == StoreOp::kDelete; }

// When an injected failure happens relative to the real call.
enum class FaultTiming {
  kBefore,  // the call never reaches the base store (a lost request)
  kAfter,   // the call is applied to the base store, then its result is replaced (a lost response)
};

class FaultStore : public ForwardingStore {
 public:
  // Selects calls: `key` is the key (Put, Get, Head), the prefix (List), or each key of a Delete in
  // turn (the Delete fails if any matches).
  using Predicate = std::function<bool(StoreOp op, std::string_view key)>;

  explicit FaultStore(std::shared_ptr<ObjectStore> base) : ForwardingStore(std::move(base)) {}

  // Adds a rule: every call selected by `when` fails with `error` (not OK) until Clear(). A
  // predicate may keep state, e.g. to fail only the first two matching calls.
  void FailWhen(Predicate when, Status error, FaultTiming timing = FaultTiming::kBefore);

  // The `n`th mutation from now (n >= 1) fails with `error` (not OK); mutations before and after it
  // proceed. Replaces an earlier FailNthMutation that has not fired.
  void FailNthMutation(int n, Status error, FaultTiming timing = FaultTiming::kBefore);

  // Crash point: the next `n` mutations proceed (n >= 0); once the nth has returned, the store is
  // "crashed": every later call, reads included, fails with UNAVAILABLE without reaching the base
  // store — like a process that died. Mutations started after the nth never reach the base store.
  // The base store keeps exactly what was written before the crash; open a new stack on it to
  // test recovery.
  void CrashAfterMutations(int n);

  bool crashed() const;
  // Removes every rule, FailNthMutation and crash point, and the crashed state.
  void Clear();
  // Mutations seen since construction (failed ones included).
  int mutations() const;
  // Calls failed by injection since construction (crashed calls included).
  int injected() const;

  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;

 private:
  struct Rule {
    Predicate when;
    Status error;
    FaultTiming timing;
  };
  // What to do with one call.
  struct Decision {
    std::optional<Status> error;
    FaultTiming timing = FaultTiming::kBefore;
    bool crash_after = false;  // this call is the crash point's last mutation
  };

  Decision Decide(StoreOp op, const std::vector<std::string_view>& keys);
  template <typename Fn>
  auto Apply(const Decision& decision, Fn call) -> decltype(call());

  mutable std::mutex mu_;
  std::vector<Rule> rules_;                        // guarded by mu_
  int mutations_ = 0;                              // guarded by mu_
  int injected_ = 0;                               // guarded by mu_
  std::optional<int> nth_;                         // mutation number that fails; guarded by mu_
  Status nth_error_;                               // guarded by mu_
  FaultTiming nth_timing_ = FaultTiming::kBefore;  // guarded by mu_
  std::optional<int> crash_after_;                 // last mutation number before the crash; guarded by mu_
  bool crashed_ = false;                           // guarded by mu_
};

}  // namespace tb::objstore
