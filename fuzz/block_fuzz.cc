// Fuzzes the block reader, from the meta to the values of every column, on an in-memory store.
// The input is a BlockImage (block_image.h); bit 0 of its first byte asks the harness to seal it
// (compress and checksum it) first, so that mutations of the plain content reach the decoders,
// while unsealed inputs exercise the checks themselves. Every TraceSource question is asked: the
// services and operations, the dependencies, the traces in the whole window, each of them by ID,
// and searches by service and by an attribute found in the block. Nothing may crash; and a block
// that Verify finds intact must answer every question without an error.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <vector>

#include "block/block_reader.h"
#include "block_image.h"
#include "model/text.h"
#include "objstore/memory_store.h"
#include "query/trace_query.h"

namespace {

using tb::Status;

constexpr uint64_t kForever = std::numeric_limits<uint64_t>::max();

// Asks every question once; returns the first error.
Status AskEverything(const tb::block::BlockReader& reader) {
  std::set<std::string> services;
  TB_RETURN_IF_ERROR(reader.Services(&services));
  tb::query::DependencyCounts dependencies;
  TB_RETURN_IF_ERROR(reader.Dependencies(0, kForever, &dependencies));
  std::vector<tb::query::TraceHit> hits;
  TB_RETURN_IF_ERROR(reader.TracesInWindow(0, kForever, &hits));
  std::vector<tb::model::TraceId> ids;
  for (const auto& hit : hits) ids.push_back(hit.trace_id);
  std::vector<tb::query::TraceHit> ranges;
  TB_RETURN_IF_ERROR(reader.TraceRanges(ids, &ranges));

  tb::query::TraceQuery by_attribute;
  for (const auto& id : ids) {
    (void)reader.PlanReadTrace(id);
    tb::model::Traces trace;
    TB_RETURN_IF_ERROR(reader.ReadTrace(id, &trace));
    for (const auto& rs : trace.resource_spans)
      for (const auto& ss : rs.scope_spans)
        for (const auto& span : ss.spans)
          if (by_attribute.attributes.empty() && !span.attributes.empty())
            by_attribute.attributes.push_back(
                {span.attributes[0].key, tb::model::CanonicalString(span.attributes[0].value)});
  }
  std::vector<tb::query::TraceQuery> queries = {by_attribute};
  for (const auto& service : services) {
    std::set<tb::query::Operation> operations;
    TB_RETURN_IF_ERROR(reader.Operations(service, "", &operations));
    tb::query::TraceQuery q;
    q.service_name = service;
    if (!operations.empty()) q.operation_name = operations.begin()->name;
    queries.push_back(q);
  }
  for (const auto& q : queries) {
    std::vector<tb::query::TraceHit> found;
    TB_RETURN_IF_ERROR(reader.FindTraces(tb::query::SpanMatcher(q), 20, &found));
  }
  return Status::Ok();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  tb::fuzz::BlockImage image =
      tb::fuzz::DeserializeImage(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  if (data[0] & 1) image = tb::fuzz::Seal(image);

  tb::objstore::MemoryStore store;
  if (!store.Put("b/meta", image.meta).ok() || !store.Put("b/index", image.index).ok() ||
      !store.Put("b/data", image.data).ok())
    std::abort();
  auto meta = tb::block::ReadBlockMeta(store, "b/");
  if (!meta.ok()) return 0;
  tb::block::LruBlockCache cache(1 << 20);
  tb::block::BlockReader reader(&store, "b/", *meta, &cache);
  const bool intact = reader.Verify([](uint64_t) {}).empty();
  const Status asked = AskEverything(reader);
  if (intact && !asked.ok()) {
    std::fprintf(stderr, "Verify found the block intact, but a read failed: %s\n", asked.ToString().c_str());
    std::abort();
  }
  return 0;
}
