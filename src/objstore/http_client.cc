// HttpClient implementation: a pool of libcurl easy handles sharing DNS and TLS sessions.
//
// Every request is sent with CURLOPT_PATH_AS_IS (the URL goes out exactly as the store encoded
// and signed it) and without header-removal entries such as "Expect:" (libcurl's SigV4 signs
// every entry of CURLOPT_HTTPHEADER, even one it then does not send).
#include "objstore/http_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include "objstore/object_store.h"  // kToEnd

namespace tb::objstore::http {
namespace {

void GlobalInitCurl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  static_cast<Response*>(user)->body.append(data, size * n);
  return size * n;
}

size_t WriteHeader(char* data, size_t size, size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {  // a new response (after "100 Continue" or a redirect)
    r->headers.clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
  if (name == "content-length") {
    uint64_t len = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), len);
    if (ec == std::errc() && len <= (1ull << 32)) r->body.reserve(len);
  }
  r->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

bool RetryableCurlCode(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY: return true;
    default: return false;
  }
}

Status CurlError(std::string_view service, std::string_view op, CURLcode rc, const char* errbuf, int attempts) {
  std::string msg = std::string(service) + " " + std::string(op) + ": " +
                    (errbuf[0] ? errbuf : curl_easy_strerror(rc)) + " (curl " + std::to_string(static_cast<int>(rc)) +
                    ")" + AttemptsSuffix(attempts);
  if (RetryableCurlCode(rc)) return Status::Unavailable(msg);
  if (rc == CURLE_OUT_OF_MEMORY) return Status::ResourceExhausted(msg);
  // Bad URL, TLS certificate problems, unsupported protocol: configuration, retrying won't help.
  return Status::FailedPrecondition(msg);
}

}  // namespace

const std::string* Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

bool RetryableHttpStatus(long status) {
  if (status == 501) return false;
  return status >= 500 || status == 429 || status == 408;
}

std::string AttemptsSuffix(int attempts) {
  return attempts > 1 ? " (after " + std::to_string(attempts) + " attempts)" : std::string();
}

std::string Snippet(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, 200)) out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : ' ');
  return out;
}

Result<std::string> ReadRange(const RangedGet& g, uint64_t offset, uint64_t length) {
  auto past_end = [&](uint64_t size) {
    return Status::InvalidArgument(g.service + " " + g.op + ": offset " + std::to_string(offset) +
                                   " is past the end (size " + std::to_string(size) + ")");
  };
  if (length == 0) {  // no Range header can ask for zero bytes
    TB_ASSIGN_OR_RETURN(uint64_t size, g.size());
    if (offset > size) return past_end(size);
    return std::string();
  }
  const bool ranged = offset > 0 || length != kToEnd;
  std::string range;
  if (ranged) {
    // An end beyond 2^62 is sent as an open range: servers parse range ends as signed 64-bit.
    range = "bytes=" + std::to_string(offset) + "-";
    uint64_t end = 0;
    if (length != kToEnd && !__builtin_add_overflow(offset, length - 1, &end) && end < (1ull << 62)) {
      range += std::to_string(end);
    }
  }
  TB_ASSIGN_OR_RETURN(Response r, g.get(range));
  if (r.status == 206) return std::move(r.body);
  if (r.status == 200) {
    if (!ranged) return std::move(r.body);
    // The server ignored the range: cut it out ourselves.
    if (offset > r.body.size()) return past_end(r.body.size());
    return r.body.substr(offset, length);
  }
  if (r.status == 416) {
    // Unsatisfiable: the offset is at or past the end. At the end (or an empty object) is an empty
    // read; past it is an error.
    TB_ASSIGN_OR_RETURN(uint64_t size, g.size());
    if (offset > size) return past_end(size);
    if (offset == size) return std::string();
    return Status::Unavailable(g.service + " " + g.op + ": 416 for a satisfiable range (the object changed meanwhile)");
  }
  return g.error(r);
}

// ---------------------------------------------------------------------------------------------
// The pool of easy handles, and one attempt on a handle.
// ---------------------------------------------------------------------------------------------
class HttpClient::Pool {
 public:
  explicit Pool(ClientOptions o) : opts(std::move(o)), retrier(opts.retry) {}
  ~Pool() {
    for (CURL* h : idle_) curl_easy_cleanup(h);
    if (share_) curl_share_cleanup(share_);
  }

  Status Init() {
    GlobalInitCurl();
    share_ = curl_share_init();
    if (!share_) return Status::ResourceExhausted(opts.service + ": curl_share_init failed");
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &Pool::LockShare);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &Pool::UnlockShare);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    // Connections are not shared: libcurl's shared connection cache is not safe across threads.
    // Each pooled easy handle keeps its own connection alive instead.
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return Status::Ok();
  }

  CURL* Acquire() {
    std::unique_lock lock(pool_mu_);
    pool_cv_.wait(lock, [&] { return in_use_ < opts.max_connections; });
    ++in_use_;
    if (!idle_.empty()) {
      CURL* h = idle_.back();
      idle_.pop_back();
      return h;
    }
    lock.unlock();
    CURL* h = curl_easy_init();
    if (h) curl_easy_setopt(h, CURLOPT_SHARE, share_);  // curl_easy_reset keeps the share
    return h;
  }

  void Release(CURL* h) {
    {
      std::lock_guard lock(pool_mu_);
      --in_use_;
      if (h) idle_.push_back(h);
    }
    pool_cv_.notify_one();
  }

  CURLcode Perform(CURL* h, const Request& req, Response* resp, char* errbuf);

  const ClientOptions opts;
  Retrier retrier;  // of opts.retry
  std::atomic<uint64_t> requests{0}, retries{0}, connections{0}, bytes_sent{0}, bytes_received{0};

 private:
  static void LockShare(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    static_cast<Pool*>(user)->share_mu_[static_cast<size_t>(data) % kShareLocks].lock();
  }
  static void UnlockShare(CURL*, curl_lock_data data, void* user) {
    static_cast<Pool*>(user)->share_mu_[static_cast<size_t>(data) % kShareLocks].unlock();
  }

  static constexpr size_t kShareLocks = CURL_LOCK_DATA_LAST;
  std::array<std::mutex, kShareLocks> share_mu_;
  CURLSH* share_ = nullptr;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<CURL*> idle_;  // guarded by pool_mu_
  int in_use_ = 0;           // guarded by pool_mu_
};

CURLcode HttpClient::Pool::Perform(CURL* h, const Request& req, Response* resp, char* errbuf) {
  curl_easy_reset(h);  // keeps live connections, the DNS cache and the share
  bool has_body = std::strcmp(req.method, "PUT") == 0 || std::strcmp(req.method, "POST") == 0;
  curl_slist* headers = nullptr;
  bool has_content_type = false;
  for (const std::string& hdr : req.headers) {
    headers = curl_slist_append(headers, hdr.c_str());
    if (hdr.size() >= 13 && strncasecmp(hdr.c_str(), "Content-Type:", 13) == 0) has_content_type = true;
  }
  // curl would add "Content-Type: application/x-www-form-urlencoded" to a body sent as POST fields.
  if (has_body && !has_content_type) headers = curl_slist_append(headers, "Content-Type: application/octet-stream");

  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(opts.request_timeout.count()));
  if (!opts.aws_sigv4.empty()) {
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, opts.aws_sigv4.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, opts.aws_access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, opts.aws_secret_key.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &WriteHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, opts.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, opts.verify_tls ? 2L : 0L);
  if (!opts.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opts.ca_file.c_str());
  if (std::strcmp(req.method, "HEAD") == 0) {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    // POST fields are sent from our buffer (and re-sent by curl itself if a reused connection
    // turns out dead); the method string overrides POST for PUT. curl adds
    // "Expect: 100-continue" above 1 MiB, which the services answer.
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    // Never NULL: curl would then send no Content-Length, which S3 answers with 411.
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.empty() ? "" : req.body.data());
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method);
  } else if (std::strcmp(req.method, "GET") != 0) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method);
  }

  errbuf[0] = '\0';
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_off_t up = 0, down = 0;
  long connects = 0;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
  connections += static_cast<uint64_t>(connects);
  curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
  curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &down);
  bytes_sent += static_cast<uint64_t>(up);
  bytes_received += static_cast<uint64_t>(down);
  return rc;
}

// ---------------------------------------------------------------------------------------------
// HttpClient
// ---------------------------------------------------------------------------------------------
HttpClient::HttpClient(std::unique_ptr<Pool> pool) : pool_(std::move(pool)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Create(ClientOptions options) {
  if (options.retry.max_attempts < 1) return Status::InvalidArgument(options.service + ": max_attempts must be >= 1");
  if (options.max_connections < 1) return Status::InvalidArgument(options.service + ": max_connections must be >= 1");
  auto pool = std::make_unique<Pool>(std::move(options));
  TB_RETURN_IF_ERROR(pool->Init());
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(pool)));
}

const ClientOptions& HttpClient::options() const { return pool_->opts; }

Result<Response> HttpClient::Call(const Request& req, const Classifier& classify) {
  const ClientOptions& opts = pool_->opts;
  return pool_->retrier.Run(req.op, [&](int attempt) -> Result<Response> {
    if (attempt > 1) ++pool_->retries;
    Response resp;
    char errbuf[CURL_ERROR_SIZE];
    CURL* h = pool_->Acquire();
    if (!h) {
      pool_->Release(nullptr);
      return Status::ResourceExhausted(opts.service + " " + req.op + ": curl_easy_init failed");
    }
    ++pool_->requests;
    CURLcode rc = pool_->Perform(h, req, &resp, errbuf);
    pool_->Release(h);
    resp.attempts = attempt;

    if (rc != CURLE_OK) return CurlError(opts.service, req.op, rc, errbuf, attempt);
    if (classify) {
      Status transient = classify(resp);
      if (transient.ok()) return resp;
      return transient;
    }
    if (!RetryableHttpStatus(resp.status)) return resp;
    std::string msg = opts.service + " " + req.op + ": " + std::to_string(resp.status);
    if (!resp.body.empty()) msg += ": " + Snippet(resp.body);
    return Status::Unavailable(msg + AttemptsSuffix(attempt));
  });
}

void HttpClient::WaitBeforeRetry(std::string_view op, int attempt, const Status& why) {
  ++pool_->retries;
  pool_->retrier.WaitBeforeRetry(op, attempt, why);
}

HttpClient::Stats HttpClient::GetStats() const {
  Stats s;
  s.requests = pool_->requests;
  s.retries = pool_->retries;
  s.connections = pool_->connections;
  s.bytes_sent = pool_->bytes_sent;
  s.bytes_received = pool_->bytes_received;
  return s;
}

}  // namespace tb::objstore::http
