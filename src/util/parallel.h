// ParallelFor: runs independent tasks (e.g. reads of several blocks) concurrently, so that a query
// over N object-store blocks costs about one round trip instead of N.
#pragma once

#include <cstddef>
#include <functional>

#include "util/status.h"
#include "util/worker_pool.h"

namespace tb {

// Calls fn(0) … fn(n-1) on up to `max_parallel` threads: the caller's, and workers of `pool`. Returns
// the error of the lowest index that failed, or OK; every call runs even when one fails.
//
// The caller's thread always works too, and waits only for tasks a worker has begun, so a call
// progresses whatever the pool is doing, and ParallelFor may be nested inside fn without a
// deadlock. A full pool costs parallelism only: the caller runs what no worker took. When the pool
// needed a thread and none could be started, no further fn begins (some may have run) and the
// call is refused with the pool's UNAVAILABLE: a machine out of threads is shedding load, and the client
// is told to come back instead of the process aborting.
Status ParallelFor(WorkerPool& pool, size_t n, size_t max_parallel, const std::function<Status(size_t)>& fn);
// The same on SharedWorkerPool().
Status ParallelFor(size_t n, size_t max_parallel, const std::function<Status(size_t)>& fn);

}  // namespace tb
