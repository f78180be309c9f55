// google.rpc.Status for the doors: the gRPC error details and the OTLP/HTTP error body.
#pragma once

#include "google/rpc/status.pb.h"
#include "util/status.h"

namespace tb::server {

// How long a writer refused for back-pressure (RESOURCE_EXHAUSTED: the head's memory budget, or the
// disk, is full for now) is asked to wait before sending again: gRPC's RetryInfo and HTTP's
// Retry-After both say this. One second is about what a flush takes to free a small head; exporters
// add their own backoff on top.
inline constexpr int kRetryDelaySeconds = 1;

// `status` as a google.rpc.Status (same code and message). A RESOURCE_EXHAUSTED also carries a
// google.rpc.RetryInfo of kRetryDelaySeconds in its details: every RESOURCE_EXHAUSTED tracebucket
// returns means "out of room for now", and OTLP exporters (the OpenTelemetry Collector's among them)
// treat one without RetryInfo as permanent and drop the data.
google::rpc::Status ToRpcStatus(const Status& status);

}  // namespace tb::server
