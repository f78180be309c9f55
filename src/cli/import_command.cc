// tracebucket import FILE: OTLP/JSON lines (what `export` writes) sent to a server over OTLP/HTTP.
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/import.h"
#include "cli/operator_commands.h"
#include "cli/output.h"
#include "server/config.h"
#include "wire/otlp_json.h"

namespace tb::cli {

std::chrono::milliseconds RetryDelay(std::string_view retry_after, int attempt,
                                     std::chrono::system_clock::time_point now) {
  using std::chrono::milliseconds;
  constexpr milliseconds kLongest = std::chrono::minutes(5);
  const std::string header(retry_after.substr(0, retry_after.find_last_not_of(' ') + 1));
  if (!header.empty() && header.find_first_not_of("0123456789") == std::string::npos && header.size() <= 6)
    return std::min<milliseconds>(std::chrono::seconds(std::stoll(header)), kLongest);
  if (!header.empty()) {
    std::tm tm{};
    if (const char* end = strptime(header.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm); end != nullptr && *end == 0) {
      const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
      return std::clamp<milliseconds>(std::chrono::duration_cast<milliseconds>(at - now), milliseconds(0), kLongest);
    }
  }
  const int doublings = std::clamp(attempt, 0, 5);
  return std::min<milliseconds>(std::chrono::seconds(1) * (1 << doublings), std::chrono::seconds(30));
}

Result<OtlpEndpoint> ParseOtlpEndpoint(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos ||
      (url.substr(0, scheme_end) != "http" && url.substr(0, scheme_end) != "https"))
    return Status::InvalidArgument("endpoint '" + std::string(url) + "' must start with http:// or https://");
  const size_t path_start = url.find('/', scheme_end + 3);
  OtlpEndpoint e;
  e.scheme_host_port = std::string(url.substr(0, path_start));
  if (e.scheme_host_port.size() == scheme_end + 3)
    return Status::InvalidArgument("endpoint '" + std::string(url) + "' names no host");
  std::string path = path_start == std::string_view::npos ? "" : std::string(url.substr(path_start));
  while (!path.empty() && path.back() == '/') path.pop_back();
  e.traces_path = path + "/v1/traces";
  return e;
}

namespace {

struct ImportOptions {
  std::string file;
  std::string endpoint = "http://127.0.0.1:4318";
  std::vector<std::string> headers;
  std::string batch_size = "1MiB";
  int max_retries = 10;
  int timeout_seconds = 30;
};

struct ImportTally {
  uint64_t lines = 0, bad_lines = 0, spans = 0, requests = 0, retries = 0, failed_requests = 0, failed_spans = 0;
};

class Sender {
 public:
  Sender(const OtlpEndpoint& endpoint, httplib::Headers headers, const ImportOptions& o, ImportTally* tally,
         ProgressBar* bar)
      : client_(endpoint.scheme_host_port),
        path_(endpoint.traces_path),
        headers_(std::move(headers)),
        options_(o),
        tally_(tally),
        bar_(bar) {
    client_.set_connection_timeout(o.timeout_seconds);
    client_.set_read_timeout(o.timeout_seconds);
    client_.set_write_timeout(o.timeout_seconds);
  }

  // Sends one batch, retrying 429, 503 and requests that got no answer; false if it was not accepted.
  bool Send(const model::Traces& batch, const std::string& where) {
    const std::string body = wire::EncodeOtlpJson(batch);
    const uint64_t spans = batch.SpanCount();
    for (int attempt = 0;; ++attempt) {
      ++tally_->requests;
      auto res = client_.Post(path_, headers_, body, "application/json");
      std::string retry_after, problem;
      if (!res) {
        problem = "no answer: " + httplib::to_string(res.error());
      } else if (res->status == 200) {
        tally_->spans += spans;
        return true;
      } else {
        problem = "HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 500);
        if (res->status != 429 && res->status != 503) return Fail(where, problem, spans);
        retry_after = res->get_header_value("Retry-After");
      }
      if (attempt >= options_.max_retries)
        return Fail(where, problem + " (gave up after " + std::to_string(attempt) + " retries)", spans);
      ++tally_->retries;
      std::this_thread::sleep_for(RetryDelay(retry_after, attempt, std::chrono::system_clock::now()));
    }
  }

 private:
  bool Fail(const std::string& where, const std::string& problem, uint64_t spans) {
    ++tally_->failed_requests;
    tally_->failed_spans += spans;
    bar_->Print(stderr, "import: " + where + ": " + problem);
    return false;
  }

  httplib::Client client_;
  std::string path_;
  httplib::Headers headers_;
  const ImportOptions& options_;
  ImportTally* tally_;
  ProgressBar* bar_;
};

int RunImport(const ImportOptions& o) {
  auto endpoint = ParseOtlpEndpoint(o.endpoint);
  if (!endpoint.ok()) return ReportError("import", endpoint.status());
  auto batch_bytes = server::ParseByteSize(o.batch_size);
  if (!batch_bytes.ok()) return ReportError("import", batch_bytes.status().WithContext("--batch-size"));
  httplib::Headers headers;
  for (const auto& h : o.headers) {
    const auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0)
      return ReportError("import", Status::InvalidArgument("--header '" + h + "': expected Name: value"));
    const size_t value = h.find_first_not_of(' ', colon + 1);
    headers.emplace(h.substr(0, colon), value == std::string::npos ? "" : h.substr(value));
  }
  std::ifstream file;
  uint64_t total = 0;
  if (o.file != "-") {
    file.open(o.file, std::ios::binary);
    if (!file) return ReportError("import", Status::NotFound("cannot read " + o.file));
    std::error_code ec;
    total = std::filesystem::file_size(o.file, ec);
  }
  std::istream& in = o.file == "-" ? std::cin : file;

  const auto started = std::chrono::steady_clock::now();
  ImportTally tally;
  ProgressBar bar("import", total, IsTerminal(stderr));
  Sender sender(*endpoint, headers, o, &tally, &bar);
  model::Traces batch;
  uint64_t batch_input = 0, first_line = 1;
  const auto flush = [&](uint64_t last_line) {
    if (batch.resource_spans.empty()) return;
    sender.Send(batch, o.file + ":" + std::to_string(first_line) + "-" + std::to_string(last_line));
    batch.resource_spans.clear();
    batch_input = 0;
    first_line = last_line + 1;
  };
  std::string line;
  while (std::getline(in, line)) {
    ++tally.lines;
    bar.Add(line.size() + 1);
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto traces = wire::ParseOtlpJson(line);
    if (!traces.ok()) {
      ++tally.bad_lines;
      bar.Print(stderr, "import: " + o.file + ":" + std::to_string(tally.lines) + ": " + traces.status().message());
      continue;
    }
    for (auto& rs : traces->resource_spans) batch.resource_spans.push_back(std::move(rs));
    batch_input += line.size();
    if (batch_input >= *batch_bytes) flush(tally.lines);
  }
  flush(tally.lines);
  bar.Finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::fprintf(stderr,
               "imported %llu spans from %llu lines of %s to %s in %.1f s: %llu requests, %llu retries, %llu failed "
               "requests (%llu spans), %llu bad lines\n",
               static_cast<unsigned long long>(tally.spans), static_cast<unsigned long long>(tally.lines),
               o.file.c_str(), (endpoint->scheme_host_port + endpoint->traces_path).c_str(), seconds,
               static_cast<unsigned long long>(tally.requests), static_cast<unsigned long long>(tally.retries),
               static_cast<unsigned long long>(tally.failed_requests),
               static_cast<unsigned long long>(tally.failed_spans), static_cast<unsigned long long>(tally.bad_lines));
  return tally.failed_requests > 0 || tally.bad_lines > 0 ? 1 : 0;
}

}  // namespace

Command AddImportCommand(CLI::App& parent) {
  CLI::App* app =
      parent.add_subcommand("import", "Send OTLP/JSON lines (as `export` writes them) to a server over OTLP/HTTP");
  auto o = std::make_shared<ImportOptions>();
  app->add_option("FILE", o->file, "File of OTLP/JSON lines, one TracesData per line; - for stdin")->required();
  app->add_option("--endpoint", o->endpoint, "OTLP/HTTP endpoint; requests go to <endpoint>/v1/traces")
      ->capture_default_str();
  app->add_option("--header", o->headers, "Extra request header, 'Name: value' (repeatable)")->allow_extra_args(false);
  app->add_option("--batch-size", o->batch_size, "Lines are sent in requests of about this much JSON")
      ->capture_default_str();
  app->add_option("--max-retries", o->max_retries, "Retries of a request refused with 429 or 503 or unanswered")
      ->capture_default_str();
  app->add_option("--timeout", o->timeout_seconds, "Seconds to connect, and to send or read a request")
      ->capture_default_str();
  app->footer(
      "Each line is parsed before it is sent; a bad line is reported with its number and skipped. Refusals with\n"
      "429 or 503 are retried after their Retry-After (else 1 s, doubling up to 30 s). A progress bar is drawn\n"
      "on a terminal; a summary ends the run.\n"
      "Exit status: 0 every line accepted, 1 a bad line or a request that failed, 2 bad flags or an unreadable file.");
  return {app, [o] { return RunImport(*o); }};
}

}  // namespace tb::cli
