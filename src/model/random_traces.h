// Seeded random span batches for property tests: every AnyValue type, nesting, events, links,
// status, flags, dropped counts. The same seed gives the same batch.
#pragma once

#include <cstdint>

#include "model/span.h"

namespace tb::model {

struct RandomTracesOptions {
  int resources = 3;
  int scopes_per_resource = 2;
  int spans_per_scope = 5;
  int traces = 4;  // spans are spread over this many trace IDs
};

Traces RandomTraces(uint64_t seed, const RandomTracesOptions& options = {});

}  // namespace tb::model
