// The parts of `tracebucket import` that decide, separated from the I/O so they can be tested.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "util/status.h"

namespace tb::cli {

// How long to wait before retrying a request refused with 429 or 503 (or one that got no answer):
// the Retry-After header when it holds delay-seconds or an HTTP date (RFC 9110 §10.2.3; a date is
// taken relative to `now`), else exponential backoff from 1 s for attempt 0, doubling, capped at
// 30 s. Never more than 5 minutes, whatever the header says.
std::chrono::milliseconds RetryDelay(std::string_view retry_after, int attempt,
                                     std::chrono::system_clock::time_point now);

// An OTLP/HTTP endpoint split for the client: "http://host:4318" → {"http://host:4318", "/v1/traces"};
// a path in the URL is a prefix ("https://gw/otlp" → "/otlp/v1/traces"), as OTLP exporters do.
struct OtlpEndpoint {
  std::string scheme_host_port;
  std::string traces_path;
};
Result<OtlpEndpoint> ParseOtlpEndpoint(std::string_view url);

}  // namespace tb::cli
