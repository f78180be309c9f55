// ParallelFor: runs independent tasks (e.g. reads of several blocks) concurrently, so that a query
// over N object-store blocks costs about one round trip instead of N.
#pragma once

#include <cstddef>
#include <functional>

#include "util/status.h"

namespace tb {

// Calls fn(0) … fn(n-1) on up to `max_parallel` threads (the caller's thread included) and
// returns the error of the lowest index that failed, or OK. Every call runs even when one fails.
Status ParallelFor(size_t n, size_t max_parallel, const std::function<Status(size_t)>& fn);

}  // namespace tb
