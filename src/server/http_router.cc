#include "server/http_router.h"

#include <algorithm>
#include <cctype>

namespace tb::server {
namespace {

const std::string kNone;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](unsigned char x, unsigned char y) {
    return std::tolower(x) < std::tolower(y);
  });
}

const std::string& HttpRequest::Header(std::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? kNone : it->second;
}

bool HttpRequest::HasHeader(std::string_view name) const { return headers.contains(std::string(name)); }

const std::string& HttpRequest::Param(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? kNone : it->second;
}

void HttpResponse::SetContent(std::string content, std::string_view content_type) {
  body = std::move(content);
  headers.erase("Content-Type");
  headers.emplace("Content-Type", std::string(content_type));
}

void HttpRouter::Get(const std::string& pattern, HttpHandler handler) {
  routes_.push_back({"GET", std::regex(pattern), std::move(handler), false});
}

void HttpRouter::Post(const std::string& pattern, HttpHandler handler) {
  routes_.push_back({"POST", std::regex(pattern), std::move(handler), true});
}

const HttpRouter::Route* HttpRouter::Find(std::string_view method, const std::string& path,
                                          std::vector<std::string>* matches) const {
  const std::string_view wanted = method == "HEAD" ? "GET" : method;
  for (const Route& route : routes_) {
    if (route.method != wanted) continue;
    std::smatch match;
    if (!std::regex_match(path, match, route.pattern)) continue;
    matches->clear();
    for (const auto& group : match) matches->push_back(group.str());
    return &route;
  }
  return nullptr;
}

Result<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+' && plus_is_space) {
      out += ' ';
    } else if (c == '%') {
      const int hi = i + 2 < text.size() ? HexValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? HexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) return Status::InvalidArgument("bad percent-encoding in '" + std::string(text) + "'");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

Result<QueryParams> ParseQueryString(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    auto name = PercentDecode(piece.substr(0, eq), true);
    if (!name.ok()) return name.status();
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1), true);
    if (!value.ok()) return value.status();
    params.emplace(std::move(*name), std::move(*value));
  }
  return params;
}

std::string BodyTooLargeMessage(uint64_t max_bytes) {
  return "request body exceeds limits.max_request_size (" + std::to_string(max_bytes) + " bytes)";
}

}  // namespace tb::server
