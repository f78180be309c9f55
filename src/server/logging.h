// The process's logs: spdlog on stderr, as text lines or JSON lines, and events with structured
// fields (e.g. the slow-query log), which the text format appends as key=value and the JSON
// format as members of the line's object.
#pragma once

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/status.h"

namespace tb::server {

// format: "text" ("[2026-12-05 09:00:00.123] [info] message k=v") or "json"
// ({"time":"2026-12-05T09:00:00.123Z","level":"info","message":"...",<fields>}); level: trace,
// debug, info, warn, error, critical, off. Applies to the default logger and every later one.
Status ConfigureLogging(std::string_view format, std::string_view level);

// Logs `message` with `fields` (a JSON object). Never put credentials or tokens in fields.
void LogEvent(spdlog::level::level_enum level, std::string_view message, const nlohmann::json& fields);

}  // namespace tb::server
