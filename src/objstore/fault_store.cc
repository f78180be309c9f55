#include "objstore/fault_store.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace tb::objstore {

std::string_view StoreOpName(StoreOp op) {
  switch (op) {
    case StoreOp::kPut: return "PUT";
    case StoreOp::kGet: return "GET";
    case StoreOp::kHead: return "HEAD";
    case StoreOp::kList: return "LIST";
    case StoreOp::kDelete: return "DELETE";
  }
  return "?";
}

namespace {

Status NotOk(Status error) {
  assert(!error.ok() && "an injected fault must be an error");
  if (error.ok()) return Status::Internal("fault store: injected fault with an OK status");
  return error;
}

Status Crashed() { return Status::Unavailable("fault store: crashed (crash point reached)"); }

}  // namespace

void FaultStore::FailWhen(Predicate when, Status error, FaultTiming timing) {
  std::lock_guard lock(mu_);
  rules_.push_back(Rule{std::move(when), NotOk(std::move(error)), timing});
}

void FaultStore::FailNthMutation(int n, Status error, FaultTiming timing) {
  assert(n >= 1);
  std::lock_guard lock(mu_);
  nth_ = mutations_ + std::max(n, 1);
  nth_error_ = NotOk(std::move(error));
  nth_timing_ = timing;
}

void FaultStore::CrashAfterMutations(int n) {
  assert(n >= 0);
  std::lock_guard lock(mu_);
  if (n <= 0) {
    crashed_ = true;
    crash_after_.reset();
  } else {
    crash_after_ = mutations_ + n;
  }
}

bool FaultStore::crashed() const {
  std::lock_guard lock(mu_);
  return crashed_;
}

void FaultStore::Clear() {
  std::lock_guard lock(mu_);
  rules_.clear();
  nth_.reset();
  crash_after_.reset();
  crashed_ = false;
}

int FaultStore::mutations() const {
  std::lock_guard lock(mu_);
  return mutations_;
}

int FaultStore::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

FaultStore::Decision FaultStore::Decide(StoreOp op, const std::vector<std::string_view>& keys) {
  std::lock_guard lock(mu_);
  Decision d;
  const bool mutation = IsMutation(op);
  const int number = mutation ? ++mutations_ : 0;
  if (crashed_ || (mutation && crash_after_ && number > *crash_after_)) {
    crashed_ = true;
    ++injected_;
    d.error = Crashed();
    return d;
  }
  if (mutation && crash_after_ && number == *crash_after_) d.crash_after = true;
  if (mutation && nth_ && number == *nth_) {
    d.error = nth_error_;
    d.timing = nth_timing_;
    nth_.reset();
  } else {
    for (const Rule& rule : rules_) {
      bool match = false;
      for (std::string_view key : keys) {
        if (rule.when(op, key)) {
          match = true;
          break;
        }
      }
      if (match) {
        d.error = rule.error;
        d.timing = rule.timing;
        break;
      }
    }
  }
  if (d.error) ++injected_;
  return d;
}

template <typename Fn>
auto FaultStore::Apply(const Decision& d, Fn call) -> decltype(call()) {
  using R = decltype(call());
  auto finish = [&] {
    if (!d.crash_after) return;
    std::lock_guard lock(mu_);
    crash_after_.reset();
    crashed_ = true;
  };
  if (d.error && d.timing == FaultTiming::kBefore) {
    finish();
    return R(*d.error);
  }
  R result = call();
  finish();
  if (d.error) return R(*d.error);
  return result;
}

Status FaultStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  return Apply(Decide(StoreOp::kPut, {key}), [&] { return base().Put(key, data, mode); });
}

Result<std::string> FaultStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  return Apply(Decide(StoreOp::kGet, {key}), [&] { return base().Get(key, offset, length); });
}

Result<ObjectInfo> FaultStore::Head(std::string_view key) {
  return Apply(Decide(StoreOp::kHead, {key}), [&] { return base().Head(key); });
}

Result<ListPage> FaultStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  return Apply(Decide(StoreOp::kList, {prefix}), [&] { return base().List(prefix, token, max_keys); });
}

Status FaultStore::Delete(const std::vector<std::string>& keys) {
  std::vector<std::string_view> views(keys.begin(), keys.end());
  return Apply(Decide(StoreOp::kDelete, views), [&] { return base().Delete(keys); });
}

}  // namespace tb::objstore
