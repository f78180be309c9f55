#include "head/head.h"

#include <absl/container/flat_hash_map.h>
#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_set>

#include "model/jaeger.h"
#include "model/text.h"
#include "util/seeded_hash.h"

namespace tb::head {
namespace {

using model::AnyValue;

// Posting-list keys. The first byte names the index; NUL separates parts (keys hold no NUL in
// practice, and a collision would only add candidates, which the matcher then rejects). Keys are
// built in one reused buffer, so looking up a key that exists allocates nothing.
class KeyBuilder {
 public:
  const std::string& Service(std::string_view service) { return Start('\x01').append(service); }
  const std::string& Operation(std::string_view service, std::string_view name) {
    Start('\x02').append(service).push_back('\0');
    return buf_.append(name);
  }
  const std::string& Name(std::string_view name) { return Start('\x04').append(name); }
  const std::string& Attribute(std::string_view key, std::string_view canonical_value) {
    Start('\x03').append(key).push_back('\0');
    return buf_.append(canonical_value);
  }
  const std::string& Attribute(std::string_view key, const model::AnyValue& value) {
    Start('\x03').append(key).push_back('\0');
    model::AppendCanonicalString(value, &buf_);
    return buf_;
  }
  static const std::string& Error() {
    static const std::string kKey("\x05", 1);  // spans with status ERROR
    return kKey;
  }

 private:
  std::string& Start(char index) {
    buf_.assign(1, index);
    return buf_;
  }
  std::string buf_;
};

void AppendAttributeKeys(const model::Attributes& attributes, std::vector<std::string>* out) {
  KeyBuilder keys;
  for (const auto& kv : attributes) out->push_back(keys.Attribute(kv.key, kv.value));
}

uint64_t StringCost(const std::string& s) { return s.size() > 15 ? s.size() + 1 + 16 : 0; }

uint64_t ValueCost(const AnyValue& v) {
  switch (v.type()) {
    case AnyValue::Type::kString: return StringCost(v.string_value());
    case AnyValue::Type::kBytes: return StringCost(v.bytes_value());
    case AnyValue::Type::kArray: {
      uint64_t c = 16;
      for (const auto& e : v.array_value()) c += sizeof(AnyValue) + ValueCost(e);
      return c;
    }
    case AnyValue::Type::kKvList: {
      uint64_t c = 16;
      for (const auto& kv : v.kvlist_value()) c += sizeof(model::KeyValue) + StringCost(kv.key) + ValueCost(kv.value);
      return c;
    }
    default: return 0;
  }
}

// Stored attributes plus their index entries: a posting and, since the value may be new, a
// posting key and its table slot (PostingIndex).
uint64_t AttributesCost(const model::Attributes& attributes) {
  uint64_t c = 0;
  for (const auto& kv : attributes) {
    c += sizeof(model::KeyValue) + StringCost(kv.key) + ValueCost(kv.value);
    c += 8 + 16;
  }
  return c;
}

struct StoredSpan {
  model::Span span;
  const model::Resource* resource;
  const model::Scope* scope;
};

// A resource or scope shared by every span that carries an identical one, with its posting keys
// computed once.
template <typename T>
struct Interned {
  T value;
  std::vector<std::string> attribute_keys;
};

// Seeded (util/seeded_hash.h): resources and scopes come from clients, who could otherwise send
// many distinct ones that share a hash and make every intern a walk over all of them.
template <typename T>
SeededHasher& AddAttributes(const T& v, SeededHasher& h) {
  h.Add(v.schema_url);
  for (const auto& kv : v.attributes)
    h.Add(kv.key).Add(model::CanonicalString(kv.value)).Add(uint64_t{static_cast<uint8_t>(kv.value.type())});
  return h;
}
uint64_t HashOf(const model::Resource& r) {
  SeededHasher h;
  return AddAttributes(r, h).Digest();
}
uint64_t HashOf(const model::Scope& s) {
  SeededHasher h;
  return AddAttributes(s, h).Add(s.name).Add(s.version).Digest();
}

template <typename T>
class InternPool {
 public:
  const Interned<T>* Intern(T&& v) {
    auto& bucket = by_hash_[HashOf(v)];
    for (const auto& e : bucket)
      if (e->value == v) return e.get();
    auto e = std::make_unique<Interned<T>>();
    e->value = std::move(v);
    AppendAttributeKeys(e->value.attributes, &e->attribute_keys);
    bucket.push_back(std::move(e));
    return bucket.back().get();
  }

 private:
  std::unordered_map<uint64_t, std::vector<std::unique_ptr<Interned<T>>>> by_hash_;
};

// Orders operations by (name, kind) and finds them by string views without allocating.
struct OperationLess {
  using is_transparent = void;
  using View = std::pair<std::string_view, std::string_view>;
  static View AsView(const query::Operation& op) { return {op.name, op.span_kind}; }
  static View AsView(const View& v) { return v; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return AsView(a) < AsView(b);
  }
};

struct TraceEntry {
  model::TraceId id{};
  std::vector<uint32_t> spans;  // ordinals into Index::spans
  uint64_t min_start = std::numeric_limits<uint64_t>::max();
  uint64_t newest_start = 0;
  uint64_t max_end = 0;
};

// The head's posting lists: span ordinals, ascending, by key (KeyBuilder). Most keys are an
// attribute value held by one span or two (IDs, URLs), and every span adds about ten, so this sits
// on ingest's path: a list keeps two ordinals in place, the keys' bytes are copied into chunks the
// index owns, and the table is open-addressed (abseil's flat map, seeded hash). Adding a posting
// then allocates nothing most of the time, where a node-based map allocated a node, a key and a
// list for each new key.
class PostingIndex {
 public:
  using List = absl::InlinedVector<uint32_t, 2>;

  void Add(std::string_view key, uint32_t ordinal) {
    auto it = lists_.find(key);
    if (it == lists_.end()) it = lists_.emplace(Keep(key), List{}).first;
    List& list = it->second;
    if (list.empty() || list.back() != ordinal) list.push_back(ordinal);
  }
  const List* Find(std::string_view key) const {
    auto it = lists_.find(key);
    return it == lists_.end() ? nullptr : &it->second;
  }

 private:
  static constexpr size_t kChunkBytes = 64 << 10;
  // A copy of `key` that lives as long as the index.
  std::string_view Keep(std::string_view key) {
    if (key.size() > chunk_left_) {
      const size_t size = std::max(kChunkBytes, key.size());
      chunks_.push_back(std::make_unique<char[]>(size));
      chunk_next_ = chunks_.back().get();
      chunk_left_ = size;
    }
    std::memcpy(chunk_next_, key.data(), key.size());
    const std::string_view kept(chunk_next_, key.size());
    chunk_next_ += key.size();
    chunk_left_ -= key.size();
    return kept;
  }

  absl::flat_hash_map<std::string_view, List, SeededKeyHash> lists_;
  std::vector<std::unique_ptr<char[]>> chunks_;
  char* chunk_next_ = nullptr;
  size_t chunk_left_ = 0;
};

// Ordinals present in every list; lists are ascending. Starts from the shortest list; each longer
// one is merged linearly when its size is comparable, or probed by binary search when it is much
// longer, so the cost follows the most selective filter.
std::vector<uint32_t> Intersect(std::vector<const PostingIndex::List*> lists) {
  std::sort(lists.begin(), lists.end(), [](auto* a, auto* b) { return a->size() < b->size(); });
  std::vector<uint32_t> out(lists[0]->begin(), lists[0]->end());
  for (size_t i = 1; i < lists.size() && !out.empty(); ++i) {
    const PostingIndex::List& other = *lists[i];
    if (other.size() < out.size() * 32) {
      std::vector<uint32_t> merged;
      std::set_intersection(out.begin(), out.end(), other.begin(), other.end(), std::back_inserter(merged));
      out = std::move(merged);
    } else {
      std::erase_if(out, [&](uint32_t v) { return !std::binary_search(other.begin(), other.end(), v); });
    }
  }
  return out;
}

}  // namespace

struct Head::Index {
  std::deque<StoredSpan> spans;
  InternPool<model::Resource> resources;
  InternPool<model::Scope> scopes;
  std::vector<TraceEntry> traces;
  absl::flat_hash_map<model::TraceId, uint32_t, SeededKeyHash> trace_ordinals;  // into traces
  // Per span ordinal, compact so that search can reject candidates without touching the span.
  std::vector<uint32_t> span_trace;  // trace ordinal
  std::vector<uint64_t> span_start;  // start, unix nanos
  std::vector<uint64_t> span_duration;
  PostingIndex postings;
  std::map<std::string, std::set<query::Operation, OperationLess>> operations;  // by service

  void Post(std::string_view key, uint32_t ordinal) { postings.Add(key, ordinal); }
  const TraceEntry* FindTrace(const model::TraceId& id) const {
    auto it = trace_ordinals.find(id);
    return it == trace_ordinals.end() ? nullptr : &traces[it->second];
  }
  const PostingIndex::List* Find(std::string_view key) const { return postings.Find(key); }
};

uint64_t EstimateMemory(const model::Traces& batch) {
  uint64_t c = 0;
  for (const auto& rs : batch.resource_spans) {
    c += sizeof(Interned<model::Resource>) + AttributesCost(rs.resource.attributes) * 2;
    for (const auto& ss : rs.scope_spans) {
      c += sizeof(Interned<model::Scope>) + AttributesCost(ss.scope.attributes) * 2;
      const uint64_t inherited_postings = 8 * (rs.resource.attributes.size() + ss.scope.attributes.size() + 3);
      for (const auto& s : ss.spans) {
        c += sizeof(StoredSpan) + 8 + StringCost(s.name) + StringCost(s.trace_state) + StringCost(s.status.message);
        c += inherited_postings + 28 /* trace membership, start, duration */ + 64 /* share of a trace entry */;
        c += AttributesCost(s.attributes);
        for (const auto& e : s.events) c += sizeof(model::Event) + StringCost(e.name) + AttributesCost(e.attributes);
        for (const auto& l : s.links)
          c += sizeof(model::Link) + StringCost(l.trace_state) + AttributesCost(l.attributes);
      }
    }
  }
  // The itemised count runs about 10% under what the allocator really uses (measured with the
  // flood test); a 25% margin keeps the process within its budget.
  return c + c / 4;
}

Reservation& Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    head_ = other.head_;
    bytes_ = other.bytes_;
    other.head_ = nullptr;
  }
  return *this;
}

void Reservation::Release() {
  if (head_ != nullptr) head_->Unreserve(bytes_);
  head_ = nullptr;
}

Head::Head(const Options& options)
    : budget_(options.shared_budget ? options.shared_budget
                                    : std::make_shared<MemoryBudget>(options.memory_budget_bytes)),
      index_(std::make_unique<Index>()) {}

Head::~Head() { budget_->Release(committed_bytes_.load()); }

bool MemoryBudget::TryAcquire(uint64_t bytes) {
  uint64_t used = used_.load();
  do {
    if (used + bytes > limit_) return false;
  } while (!used_.compare_exchange_weak(used, used + bytes));
  if (parent_ && !parent_->TryAcquire(bytes)) {
    used_.fetch_sub(bytes);
    // A waiter that looked at this budget meanwhile found it fuller than it is: it looks again.
    WakeWaiters();
    return false;
  }
  return true;
}

void MemoryBudget::ForceAcquire(uint64_t bytes) {
  used_.fetch_add(bytes);
  if (parent_) parent_->ForceAcquire(bytes);
}

void MemoryBudget::Release(uint64_t bytes) {
  used_.fetch_sub(bytes);
  if (parent_) {
    parent_->Release(bytes);
  } else {
    WakeWaiters();
  }
}

const MemoryBudget& MemoryBudget::Root() const {
  const MemoryBudget* root = this;
  while (root->parent_) root = root->parent_.get();
  return *root;
}

void MemoryBudget::WakeWaiters() const {
  const MemoryBudget& root = Root();
  // Taking the lock orders the change before a waiter's next check of FullFor: no lost wake-up.
  { std::lock_guard lock(root.room_mu_); }
  root.room_cv_.notify_all();
}

bool MemoryBudget::WaitForRoom(uint64_t bytes, std::chrono::steady_clock::time_point deadline) const {
  for (const MemoryBudget* b = this; b != nullptr; b = b->parent_.get())
    if (bytes > b->limit_) return false;  // no release will ever make room
  const MemoryBudget& root = Root();
  std::unique_lock lock(root.room_mu_);
  return root.room_cv_.wait_until(lock, deadline, [&] { return FullFor(bytes) == nullptr; });
}

const MemoryBudget* MemoryBudget::FullFor(uint64_t bytes) const {
  for (const MemoryBudget* b = this; b != nullptr; b = b->parent_.get())
    if (bytes == 0 ? b->used() >= b->limit() : b->used() + bytes > b->limit()) return b;
  return nullptr;
}

Status Head::BudgetFull(uint64_t bytes) const {
  // Another writer may have released memory since the refusal: then name this head's own budget.
  const MemoryBudget* full = budget_->FullFor(bytes);
  if (full == nullptr) full = budget_.get();
  return Status::ResourceExhausted(full->name() + " full: " + std::to_string(full->used() >> 20) + " MiB of " +
                                   std::to_string(full->limit() >> 20) + " MiB in use, batch needs " +
                                   std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB; retry later");
}

Status Head::CheckHasRoom() const { return budget_->FullFor(0) != nullptr ? BudgetFull(0) : Status::Ok(); }

Result<Reservation> Head::Reserve(uint64_t bytes) {
  if (!budget_->TryAcquire(bytes)) return BudgetFull(bytes);
  reserved_bytes_.fetch_add(bytes);
  return Reservation(this, bytes);
}

void Head::Unreserve(uint64_t bytes) {
  reserved_bytes_.fetch_sub(bytes);
  budget_->Release(bytes);
}

void Head::Insert(model::Traces&& batch, Reservation reservation) {
  uint64_t bytes;
  if (reservation.head_ == this) {
    // The reserved share of the budget becomes committed memory of this head.
    bytes = reservation.bytes();
    reservation.head_ = nullptr;
    reserved_bytes_.fetch_sub(bytes);
  } else {
    bytes = EstimateMemory(batch);
    budget_->ForceAcquire(bytes);
  }
  {
    std::unique_lock lock(mu_);
    Index& ix = *index_;
    for (auto& rs : batch.resource_spans) {
      const auto* resource = ix.resources.Intern(std::move(rs.resource));
      const std::string service(model::ServiceName(resource->value));
      KeyBuilder keys;
      const std::string service_key = keys.Service(service);
      auto& service_ops = ix.operations[service];
      for (auto& ss : rs.scope_spans) {
        const auto* scope = ix.scopes.Intern(std::move(ss.scope));
        for (auto& span : ss.spans) {
          const auto ordinal = static_cast<uint32_t>(ix.spans.size());
          auto [slot, fresh] = ix.trace_ordinals.emplace(span.trace_id, static_cast<uint32_t>(ix.traces.size()));
          if (fresh) ix.traces.push_back(TraceEntry{span.trace_id, {}});
          ix.span_trace.push_back(slot->second);
          ix.span_start.push_back(span.start_time_unix_nano);
          ix.span_duration.push_back(span.duration_nanos());
          if (span.status.code == model::StatusCode::kError) ix.Post(KeyBuilder::Error(), ordinal);
          TraceEntry& trace = ix.traces[slot->second];
          trace.spans.push_back(ordinal);
          trace.min_start = std::min(trace.min_start, span.start_time_unix_nano);
          trace.newest_start = std::max(trace.newest_start, span.start_time_unix_nano);
          trace.max_end = std::max(trace.max_end, span.end_time_unix_nano);

          ix.Post(service_key, ordinal);
          ix.Post(keys.Operation(service, span.name), ordinal);
          ix.Post(keys.Name(span.name), ordinal);
          const std::string_view kind = model::SpanKindName(span.kind);
          if (!service_ops.contains(std::pair{std::string_view(span.name), kind}))
            service_ops.insert({span.name, std::string(kind)});
          for (const auto& k : resource->attribute_keys) ix.Post(k, ordinal);
          for (const auto& k : scope->attribute_keys) ix.Post(k, ordinal);
          auto post_all = [&](const model::Attributes& attributes) {
            for (const auto& kv : attributes) ix.Post(keys.Attribute(kv.key, kv.value), ordinal);
          };
          post_all(span.attributes);
          for (const auto& e : span.events) post_all(e.attributes);
          for (const auto& l : span.links) post_all(l.attributes);

          ix.spans.push_back(StoredSpan{std::move(span), &resource->value, &scope->value});
        }
      }
    }
    committed_bytes_.fetch_add(bytes);
  }
}

size_t Head::SpanCount(const model::TraceId& id) const {
  std::shared_lock lock(mu_);
  const TraceEntry* trace = index_->FindTrace(id);
  return trace == nullptr ? 0 : trace->spans.size();
}

bool Head::ForEachSpan(
    const std::function<bool(const model::Resource&, const model::Scope&, const model::Span&)>& visit) const {
  std::shared_lock lock(mu_);
  for (const StoredSpan& s : index_->spans)
    if (!visit(*s.resource, *s.scope, s.span)) return false;
  return true;
}

void Head::Clear() {
  auto fresh = std::make_unique<Index>();
  std::unique_lock lock(mu_);
  std::swap(index_, fresh);
  budget_->Release(committed_bytes_.exchange(0));
  // `fresh` now holds the old index and is freed after the lock is released.
  lock.unlock();
}

HeadStats Head::Stats() const {
  std::shared_lock lock(mu_);
  return HeadStats{index_->spans.size(),   index_->traces.size(), committed_bytes_.load(),
                   reserved_bytes_.load(), budget_->used(),       budget_->limit()};
}

Status Head::FindTraces(const query::SpanMatcher& matcher, size_t limit, std::vector<query::TraceHit>* hits) const {
  if (!matcher.satisfiable()) return Status::Ok();
  const query::TraceQuery& q = matcher.query();
  std::shared_lock lock(mu_);
  const Index& ix = *index_;

  std::vector<const PostingIndex::List*> lists;
  auto require = [&](const std::string& key) {
    const auto* list = ix.Find(key);
    lists.push_back(list);
    return list != nullptr;
  };
  bool possible = true;
  KeyBuilder keys;
  if (!q.service_name.empty()) possible &= require(keys.Service(q.service_name));
  if (!q.operation_name.empty())
    possible &= require(q.service_name.empty() ? keys.Name(q.operation_name)
                                               : keys.Operation(q.service_name, q.operation_name));
  for (const auto* f : matcher.plain_attributes()) possible &= require(keys.Attribute(f->key, f->value));
  if (matcher.wants_error_spans()) possible &= require(KeyBuilder::Error());
  if (!possible) return Status::Ok();

  // When the posting lists decide a match alone, candidates need no second look.
  const bool check_spans = !matcher.decided_by_index() || lists.empty();
  std::vector<bool> seen(ix.traces.size());
  std::vector<query::TraceHit> result;
  auto consider = [&](uint32_t ordinal) {
    const uint32_t trace = ix.span_trace[ordinal];
    if (seen[trace]) return;
    if (check_spans) {
      const uint64_t start = ix.span_start[ordinal], duration = ix.span_duration[ordinal];
      if ((q.start_time_min_unix_nano && start < *q.start_time_min_unix_nano) ||
          (q.start_time_max_unix_nano && start > *q.start_time_max_unix_nano) ||
          (q.duration_min_nanos && duration < *q.duration_min_nanos) ||
          (q.duration_max_nanos && duration > *q.duration_max_nanos))
        return;
      const StoredSpan& s = ix.spans[ordinal];
      const query::SpanView view{s.span, *s.resource, *s.scope};
      if (lists.empty() ? !matcher.Matches(view) : !matcher.MatchesIndexedCandidate(view)) return;
    }
    seen[trace] = true;
    const TraceEntry& t = ix.traces[trace];
    result.push_back(query::TraceHit{t.id, t.newest_start, t.min_start, t.max_end});
  };
  if (lists.empty()) {
    for (size_t i = ix.spans.size(); i-- > 0;) consider(static_cast<uint32_t>(i));
  } else {
    for (uint32_t ordinal : Intersect(lists)) consider(ordinal);
  }

  auto newer = [](const query::TraceHit& a, const query::TraceHit& b) {
    if (a.newest_span_start_unix_nano != b.newest_span_start_unix_nano)
      return a.newest_span_start_unix_nano > b.newest_span_start_unix_nano;
    return a.trace_id < b.trace_id;
  };
  if (result.size() > limit) {
    std::partial_sort(result.begin(), result.begin() + static_cast<ptrdiff_t>(limit), result.end(), newer);
    result.resize(limit);
  } else {
    std::sort(result.begin(), result.end(), newer);
  }
  hits->insert(hits->end(), result.begin(), result.end());
  return Status::Ok();
}

Status Head::ReadTrace(const model::TraceId& id, model::Traces* out) const {
  std::shared_lock lock(mu_);
  const Index& ix = *index_;
  const TraceEntry* trace = ix.FindTrace(id);
  if (trace == nullptr) return Status::Ok();
  // Regroup under shared resources and scopes, in arrival order.
  std::map<const model::Resource*, size_t> resource_slot;
  std::map<std::pair<const model::Resource*, const model::Scope*>, std::pair<size_t, size_t>> scope_slot;
  for (uint32_t ordinal : trace->spans) {
    const StoredSpan& s = ix.spans[ordinal];
    auto [rit, new_resource] = resource_slot.emplace(s.resource, out->resource_spans.size());
    if (new_resource) out->resource_spans.push_back({*s.resource, {}});
    auto& rs = out->resource_spans[rit->second];
    auto [sit, new_scope] =
        scope_slot.emplace(std::pair{s.resource, s.scope}, std::pair{rit->second, rs.scope_spans.size()});
    if (new_scope) rs.scope_spans.push_back({*s.scope, {}});
    out->resource_spans[sit->second.first].scope_spans[sit->second.second].spans.push_back(s.span);
  }
  return Status::Ok();
}

Status Head::TraceRanges(const std::vector<model::TraceId>& ids, std::vector<query::TraceHit>* out) const {
  std::shared_lock lock(mu_);
  for (const auto& id : ids) {
    if (const TraceEntry* t = index_->FindTrace(id))
      out->push_back(query::TraceHit{id, t->newest_start, t->min_start, t->max_end});
  }
  return Status::Ok();
}

Status Head::TracesInWindow(uint64_t start_unix_nano, uint64_t end_unix_nano, std::vector<query::TraceHit>* out) const {
  std::shared_lock lock(mu_);
  for (const auto& t : index_->traces)
    if (t.min_start >= start_unix_nano && t.max_end <= end_unix_nano)
      out->push_back(query::TraceHit{t.id, t.newest_start, t.min_start, t.max_end});
  return Status::Ok();
}

Status Head::Services(std::set<std::string>* out) const {
  std::shared_lock lock(mu_);
  for (const auto& [service, ops] : index_->operations)
    if (!service.empty()) out->insert(service);
  return Status::Ok();
}

Status Head::Operations(const std::string& service, const std::string& span_kind,
                        std::set<query::Operation>* out) const {
  std::shared_lock lock(mu_);
  auto it = index_->operations.find(service);
  if (it == index_->operations.end()) return Status::Ok();
  for (const auto& op : it->second)
    if (span_kind.empty() || op.span_kind == span_kind) out->insert(op);
  return Status::Ok();
}

Status Head::Dependencies(uint64_t start_unix_nano, uint64_t end_unix_nano, query::DependencyCounts* out) const {
  std::shared_lock lock(mu_);
  const Index& ix = *index_;
  std::unordered_map<model::SpanId, const model::Resource*, SeededKeyHash> by_span;
  for (const auto& trace : ix.traces) {
    if (trace.min_start < start_unix_nano || trace.max_end > end_unix_nano) continue;
    by_span.clear();
    for (uint32_t ordinal : trace.spans) by_span.emplace(ix.spans[ordinal].span.span_id, ix.spans[ordinal].resource);
    for (uint32_t ordinal : trace.spans) {
      const StoredSpan& s = ix.spans[ordinal];
      const model::SpanId parent_id = model::jaeger::DependencyParent(s.span);
      if (parent_id == model::SpanId{}) continue;
      auto parent = by_span.find(parent_id);
      if (parent == by_span.end()) continue;
      ++(*out)[{std::string(model::ServiceName(*parent->second)), std::string(model::ServiceName(*s.resource))}];
    }
  }
  return Status::Ok();
}

}  // namespace tb::head
