#include "server/logging.h"

#include <spdlog/pattern_formatter.h>

#include <ctime>

namespace tb::server {
namespace {

// The fields of the LogEvent being formatted on this thread. Loggers are synchronous, so a
// formatter runs on the thread that logs, inside LogEvent.
thread_local const nlohmann::json* current_fields = nullptr;

// dump() with invalid UTF-8 replaced rather than thrown: a log line never fails.
std::string Dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The text format's %F flag: " key=value" for each field (strings as JSON strings when they need quoting).
class TextFieldsFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&, spdlog::memory_buf_t& dest) override {
    if (current_fields == nullptr) return;
    for (const auto& [key, value] : current_fields->items()) {
      std::string text = " " + key + "=";
      if (value.is_string()) {
        const auto& s = value.get_ref<const std::string&>();
        const bool plain = !s.empty() && s.find_first_of(" \"=\\\n\t") == std::string::npos;
        text += plain ? s : Dump(value);
      } else {
        text += Dump(value);
      }
      dest.append(text.data(), text.data() + text.size());
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TextFieldsFlag>(); }
};

// One JSON object per line: time (UTC, RFC 3339 with milliseconds), level, message, then fields.
class JsonLineFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const std::time_t seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch).count();
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char time[40];
    const size_t n = std::strftime(time, sizeof time, "%Y-%m-%dT%H:%M:%S", &utc);
    std::snprintf(time + n, sizeof time - n, ".%03lldZ", static_cast<long long>(millis));

    nlohmann::json line = {{"time", time},
                           {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                                                 spdlog::level::to_string_view(msg.level).size())},
                           {"message", std::string(msg.payload.data(), msg.payload.size())}};
    if (current_fields != nullptr)
      for (const auto& [key, value] : current_fields->items())
        if (!line.contains(key)) line[key] = value;
    const std::string text = Dump(line) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonLineFormatter>(); }
};

}  // namespace

Status ConfigureLogging(std::string_view format, std::string_view level) {
  const auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off")
    return Status::InvalidArgument("log level '" + std::string(level) +
                                   "' is not one of trace, debug, info, warn, error, critical, off");
  std::unique_ptr<spdlog::formatter> formatter;
  if (format == "text") {
    auto pattern = std::make_unique<spdlog::pattern_formatter>();
    pattern->add_flag<TextFieldsFlag>('F').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v%F");
    formatter = std::move(pattern);
  } else if (format == "json") {
    formatter = std::make_unique<JsonLineFormatter>();
  } else {
    return Status::InvalidArgument("log format '" + std::string(format) + "' is not text or json");
  }
  spdlog::set_formatter(std::move(formatter));
  spdlog::set_level(parsed);
  return Status::Ok();
}

void LogEvent(spdlog::level::level_enum level, std::string_view message, const nlohmann::json& fields) {
  current_fields = &fields;
  spdlog::log(level, "{}", message);
  current_fields = nullptr;
}

}  // namespace tb::server
