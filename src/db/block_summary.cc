#include "db/block_summary.h"

#include <nlohmann/json.hpp>

#include "model/text.h"

namespace tb::db {

BlockSummary SummarizeBlock(const std::string& tenant, const block::BlockMeta& meta, uint32_t level) {
  BlockSummary s;
  s.level = static_cast<int>(level);
  s.id = meta.block_id;
  s.tenant = tenant;
  s.spans = meta.span_count;
  s.traces = meta.trace_count;
  // The block list holds each meta byte for byte, so its encoding is the meta object's size.
  s.bytes = meta.data_size + meta.index_size + block::EncodeMeta(meta).size();
  s.min_time_unix_nano = meta.min_span_start;
  s.max_time_unix_nano = meta.max_span_end;
  return s;
}

std::string BlocksJson(const std::vector<BlockSummary>& blocks) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();  // keys in the documented order
  for (const auto& b : blocks) {
    const auto time = [&](uint64_t t) {
      return b.spans == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(model::FormatRfc3339Nanos(t));
    };
    list.push_back({{"id", b.id},
                    {"tenant", b.tenant},
                    {"level", b.level},
                    {"spans", b.spans},
                    {"traces", b.traces},
                    {"bytes", b.bytes},
                    {"min_time", time(b.min_time_unix_nano)},
                    {"max_time", time(b.max_time_unix_nano)}});
  }
  return nlohmann::ordered_json{{"blocks", std::move(list)}}.dump();
}

}  // namespace tb::db
