#include "ingest/ingester.h"

#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <utility>

#include "wire/otlp_codec.h"

namespace tb::ingest {
namespace {

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
bool TruncateUtf8(std::string* s, size_t max) {
  if (s->size() <= max) return false;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>((*s)[cut]) & 0xC0) == 0x80) --cut;
  s->resize(cut);
  return true;
}

class Trimmer {
 public:
  explicit Trimmer(const Limits& limits) : limits_(limits) {}
  LimitsApplied applied() const { return applied_; }

  void Value(model::AnyValue* v) {
    switch (v->type()) {
      case model::AnyValue::Type::kString:
        applied_.truncated_values += TruncateUtf8(v->mutable_string(), limits_.max_attribute_value_bytes);
        break;
      case model::AnyValue::Type::kBytes:
        if (v->bytes_value().size() > limits_.max_attribute_value_bytes) {
          *v = model::AnyValue::FromBytes(v->bytes_value().substr(0, limits_.max_attribute_value_bytes));
          ++applied_.truncated_values;
        }
        break;
      case model::AnyValue::Type::kArray: {
        model::ArrayValue values = v->array_value();
        Elements(&values);
        for (auto& e : values) Value(&e);
        *v = model::AnyValue::Array(std::move(values));
        break;
      }
      case model::AnyValue::Type::kKvList: {
        model::KeyValueList values = v->kvlist_value();
        Elements(&values);
        for (auto& kv : values) {
          String(&kv.key);
          Value(&kv.value);
        }
        *v = model::AnyValue::KvList(std::move(values));
        break;
      }
      default: break;
    }
  }

  // A string other than an attribute value.
  void String(std::string* s) {
    if (TruncateUtf8(s, limits_.max_string_bytes)) {
      ++applied_.truncated_strings;
      applied_.changed = true;
    }
  }

  void Attributes(model::Attributes* attributes, uint32_t* dropped) {
    if (attributes->size() > limits_.max_attributes_per_span) {
      *dropped += static_cast<uint32_t>(attributes->size() - limits_.max_attributes_per_span);
      attributes->resize(limits_.max_attributes_per_span);
      applied_.changed = true;
    }
    for (auto& kv : *attributes) {
      String(&kv.key);
      if (NeedsValueCheck(kv.value)) {
        Value(&kv.value);
        applied_.changed = true;
      }
    }
  }

  // Drops the elements of an array or key-value list beyond max_array_values (OTLP has no count
  // of dropped elements: they are reported in the partial-success message only).
  template <typename T>
  void Elements(std::vector<T>* items) {
    if (items->size() > limits_.max_array_values) {
      applied_.dropped_elements += items->size() - limits_.max_array_values;
      items->resize(limits_.max_array_values);
    }
  }

  template <typename T>
  void Cap(std::vector<T>* items, uint32_t max, uint32_t* dropped) {
    if (items->size() > max) {
      *dropped += static_cast<uint32_t>(items->size() - max);
      items->resize(max);
      applied_.changed = true;
    }
  }

 private:
  // Containers are rebuilt only when they hold something that is too long.
  bool NeedsValueCheck(const model::AnyValue& v) const {
    switch (v.type()) {
      case model::AnyValue::Type::kString: return v.string_value().size() > limits_.max_attribute_value_bytes;
      case model::AnyValue::Type::kBytes: return v.bytes_value().size() > limits_.max_attribute_value_bytes;
      case model::AnyValue::Type::kArray:
        if (v.array_value().size() > limits_.max_array_values) return true;
        for (const auto& e : v.array_value())
          if (NeedsValueCheck(e)) return true;
        return false;
      case model::AnyValue::Type::kKvList:
        if (v.kvlist_value().size() > limits_.max_array_values) return true;
        for (const auto& kv : v.kvlist_value())
          if (kv.key.size() > limits_.max_string_bytes || NeedsValueCheck(kv.value)) return true;
        return false;
      default: return false;
    }
  }

  const Limits& limits_;
  LimitsApplied applied_;
};

// Drops spans beyond max_spans_per_trace, counting what the head already holds for each trace.
uint64_t RejectOversizedTraces(const Limits& limits, const head::Head& head, model::Traces* batch) {
  std::map<model::TraceId, uint64_t> counts;
  uint64_t rejected = 0;
  for (auto& rs : batch->resource_spans) {
    for (auto& ss : rs.scope_spans) {
      std::erase_if(ss.spans, [&](const model::Span& span) {
        auto [it, fresh] = counts.emplace(span.trace_id, 0);
        if (fresh) it->second = head.SpanCount(span.trace_id);
        if (it->second >= limits.max_spans_per_trace) {
          ++rejected;
          return true;
        }
        ++it->second;
        return false;
      });
    }
  }
  return rejected;
}

}  // namespace

LimitsApplied ApplySpanLimits(const Limits& limits, model::Traces* batch) {
  Trimmer t(limits);
  for (auto& rs : batch->resource_spans) {
    t.String(&rs.resource.schema_url);
    t.Attributes(&rs.resource.attributes, &rs.resource.dropped_attributes_count);
    for (auto& ss : rs.scope_spans) {
      t.String(&ss.scope.name);
      t.String(&ss.scope.version);
      t.String(&ss.scope.schema_url);
      t.Attributes(&ss.scope.attributes, &ss.scope.dropped_attributes_count);
      for (auto& span : ss.spans) {
        t.String(&span.name);
        t.String(&span.trace_state);
        t.String(&span.status.message);
        t.Attributes(&span.attributes, &span.dropped_attributes_count);
        t.Cap(&span.events, limits.max_events_per_span, &span.dropped_events_count);
        t.Cap(&span.links, limits.max_links_per_span, &span.dropped_links_count);
        for (auto& e : span.events) {
          t.String(&e.name);
          t.Attributes(&e.attributes, &e.dropped_attributes_count);
        }
        for (auto& l : span.links) {
          t.String(&l.trace_state);
          t.Attributes(&l.attributes, &l.dropped_attributes_count);
        }
      }
    }
  }
  return t.applied();
}

Result<IngestResult> Ingester::Ingest(model::Traces&& batch, std::string_view received, Clock::time_point wait_until) {
  TB_ASSIGN_OR_RETURN(IngestResult result, Store(std::move(batch), received, wait_until));
  if (after_write_ && result.accepted_spans > 0) {
    TB_RETURN_IF_ERROR(after_write_().WithContext("the spans are stored, but the step after the write failed"));
  }
  return result;
}

Result<IngestResult> Ingester::Store(model::Traces&& batch, std::string_view received, Clock::time_point wait_until) {
  IngestResult result;
  const LimitsApplied applied = ApplySpanLimits(limits_, &batch);
  const uint64_t truncated = applied.truncated_values;

  std::shared_lock exclusive(exclusive_mu_);
  std::shared_ptr<head::Head> head = active_head();
  result.rejected_spans = RejectOversizedTraces(limits_, *head, &batch);
  result.accepted_spans = batch.SpanCount();
  if (result.rejected_spans > 0) {
    result.message = std::to_string(result.rejected_spans) + " spans rejected: their traces reached the limit of " +
                     std::to_string(limits_.max_spans_per_trace) + " spans per trace";
  }
  const auto report = [&](uint64_t count, const std::string& what) {
    if (count == 0) return;
    if (!result.message.empty()) result.message += "; ";
    result.message += std::to_string(count) + " " + what;
  };
  report(truncated, "attribute values truncated to " + std::to_string(limits_.max_attribute_value_bytes) +
                        " bytes (limits.max_attribute_value_size)");
  report(applied.truncated_strings, "names, keys or other strings truncated to " +
                                        std::to_string(limits_.max_string_bytes) + " bytes (limits.max_string_size)");
  report(applied.dropped_elements, "array or key-value-list elements dropped beyond " +
                                       std::to_string(limits_.max_array_values) + " (limits.max_array_values)");
  if (result.accepted_spans == 0) return result;

  const uint64_t bytes = head::EstimateMemory(batch);
  Result<head::Reservation> reserved = head->Reserve(bytes);
  if (!reserved.ok() && Clock::now() < wait_until) {
    const auto waiting_since = Clock::now();
    do {
      // Outside the exclusion and without holding the head, so that a flush can cut the full head
      // meanwhile and its memory come back once its block is stored. The oversized-trace check
      // above is not made again: after a cut the new head holds fewer spans of each trace, and
      // writes that filled it meanwhile can take a trace past the limit by this batch at most
      // (the limit is per head already: spans in flushed heads do not count).
      const std::shared_ptr<head::MemoryBudget> budget = head->budget();
      head.reset();
      exclusive.unlock();
      const bool room = budget->WaitForRoom(bytes, wait_until);
      exclusive.lock();
      head = active_head();
      if (!room) break;
      reserved = head->Reserve(bytes);
    } while (!reserved.ok());
    admission_.wait_seconds.ObserveSince(waiting_since);
  }
  TB_RETURN_IF_ERROR(reserved.status());
  head::Reservation reservation = std::move(*reserved);
  // After the reservation, so that spans the head refuses do not use up the rate.
  TB_RETURN_IF_ERROR(rate_.Take(result.accepted_spans));
  // The WAL record must decode to exactly the accepted spans: the received bytes do unless a limit
  // changed the batch.
  const bool unchanged = !received.empty() && !applied.changed && result.rejected_spans == 0;
  std::string encoded;
  if (!unchanged) encoded = wire::EncodeOtlpProtobuf(batch);
  auto appended = wal_->Append(unchanged ? received : std::string_view(encoded));
  if (!appended.ok()) return Status::Unavailable("write-ahead log: " + appended.status().message());
  head->Insert(std::move(batch), std::move(reservation));
  return result;
}

Status Ingester::CheckCapacity(Clock::time_point wait_until) {
  TB_RETURN_IF_ERROR(rate_.CheckHasRoom());
  Status room = active_head()->CheckHasRoom();
  if (room.ok() || Clock::now() >= wait_until) return room;
  // A pre-check only: Ingest reserves (and may wait again) once the batch's size is known.
  const std::shared_ptr<head::MemoryBudget> budget = active_head()->budget();
  const auto waiting_since = Clock::now();
  const bool freed = budget->WaitForRoom(0, wait_until);
  admission_.wait_seconds.ObserveSince(waiting_since);
  return freed ? Status::Ok() : room;
}

std::shared_ptr<head::Head> Ingester::active_head() const {
  std::lock_guard lock(head_mu_);
  return head_;
}

CutHead Ingester::Cut(std::shared_ptr<head::Head> fresh) {
  std::unique_lock exclusive(exclusive_mu_);
  CutHead cut;
  cut.wal_last_sequence = wal_->last_sequence();
  std::lock_guard lock(head_mu_);
  cut.head = std::exchange(head_, std::move(fresh));
  return cut;
}

Status Ingester::Purge(const std::function<Status()>& also) {
  std::unique_lock exclusive(exclusive_mu_);
  TB_RETURN_IF_ERROR(wal_->Purge());
  active_head()->Clear();
  return also ? also() : Status::Ok();
}

Result<std::unique_ptr<wal::Wal>> Ingester::RecoverWal(const wal::Options& options, uint64_t covered_through,
                                                       uint64_t expired_before, uint64_t* expired_spans,
                                                       head::Head* head, wal::ReplayStats* stats) {
  *expired_spans = 0;
  return wal::Wal::Open(
      options,
      [head, covered_through, expired_before, expired_spans](uint64_t sequence, std::string_view payload) -> Status {
        if (sequence <= covered_through) return Status::Ok();  // already in a block
        auto batch = wire::DecodeOtlpProtobuf(payload);
        if (!batch.ok()) {
          // The checksum held, so the record is as written: this is a bug, not a torn write.
          return Status::DataLoss("WAL record " + std::to_string(sequence) +
                                  " does not decode: " + batch.status().message());
        }
        if (expired_before > 0) *expired_spans += batch->DropSpansStartedBefore(expired_before);
        if (!batch->resource_spans.empty()) head->Insert(std::move(*batch), {});
        return Status::Ok();
      },
      stats);
}

}  // namespace tb::ingest
