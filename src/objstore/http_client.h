// HttpClient: the HTTP layer shared by the cloud object stores (S3, Azure Blob, GCS). One call is
// one HTTP exchange on a pooled libcurl easy handle, repeated by a Retrier under the retry policy
// of every store (retry_policy.h: attempts, full-jitter backoff, what is retried) while it fails
// transiently. The stores build requests, sign them and map the answers to Status; this part
// knows nothing of any service's API.
//
// What a transient failure is, in HTTP (docs/format/s3-store.md, azure-store.md):
//  - transport failures that a new attempt can cure (connection refused or reset, DNS, timeouts,
//    TLS handshake errors, an empty or malformed reply) are UNAVAILABLE; others (bad URL,
//    certificate problems) are configuration errors, FAILED_PRECONDITION, never retried;
//  - an answer is transient when the store's classifier says so (RetryableHttpStatus is the
//    default: 408, 429 and 5xx other than 501), as UNAVAILABLE.
//
// Thread-safety: every method may be called concurrently. At most `max_connections` requests are
// in flight; further callers wait for a pooled handle. DNS and TLS sessions are shared.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "objstore/retry_policy.h"
#include "util/status.h"

namespace tb::objstore::http {

struct Request {
  const char* method = "GET";        // GET, HEAD, PUT, POST, DELETE
  std::string url;                   // complete and already encoded; sent as is (no path normalisation)
  std::vector<std::string> headers;  // "Name: value"
  // Sent for PUT and POST, with Content-Length (also when empty). Without a Content-Type header
  // "application/octet-stream" is sent (curl would otherwise claim a form).
  std::string_view body;
  std::string op;  // "PUT blocks/x", for messages
};

struct Response {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case, values trimmed
  int attempts = 0;                                          // attempts made for this answer

  // The first header of that (lower-case) name, or nullptr.
  const std::string* Header(std::string_view name) const;
};

// 408, 429 and 5xx except 501 (Not Implemented: the server will never do it).
bool RetryableHttpStatus(long status);

// " (after N attempts)" when N > 1, else "": appended to error messages.
std::string AttemptsSuffix(int attempts);

// The first 200 bytes of a body with unprintable bytes blanked, for error messages.
std::string Snippet(std::string_view body);

// A read under ObjectStore::Get's contract (offset and length, kToEnd, a range past the end cut
// short, an offset past the end INVALID_ARGUMENT), shared by the cloud stores, whose GETs all take
// an HTTP byte range. `get(range)` sends the GET with `range` as the value of the store's range
// header ("bytes=O-E", "bytes=O-"; "" for the whole object); `size()` asks for the object's size
// (a HEAD), for a zero-length read and after a 416; `error(r)` maps every answer other than
// 200, 206 and 416.
struct RangedGet {
  std::string service;  // "s3", for messages
  std::string op;       // "GET key"
  std::function<Result<Response>(const std::string& range)> get;
  std::function<Result<uint64_t>()> size;
  std::function<Status(const Response&)> error;
};
Result<std::string> ReadRange(const RangedGet& g, uint64_t offset, uint64_t length);

struct ClientOptions {
  // Prefix of error messages: "s3", "azure".
  std::string service;
  // TLS: verify the server's certificate (against ca_file if set, else the system store).
  bool verify_tls = true;
  std::string ca_file;
  std::chrono::milliseconds connect_timeout{5000};
  // Per attempt, the whole exchange including the body transfer; 0 means no limit.
  std::chrono::milliseconds request_timeout{120000};
  // Concurrent requests (and pooled connections); further requests wait.
  int max_connections = 32;
  RetryPolicy retry;
  // libcurl's own AWS SigV4 signing (CURLOPT_AWS_SIGV4, "aws:amz:<region>:s3") with these
  // credentials, applied to every request; empty: requests go as the caller signed them.
  std::string aws_sigv4;
  std::string aws_access_key;
  std::string aws_secret_key;
};

class HttpClient {
 public:
  // Decides what an answer that arrived means: OK hands it to the caller as it is (success, or an
  // error the caller maps itself); an error status (UNAVAILABLE for a transient answer) is that
  // attempt's failure, retried while the policy retries it and attempts remain, and returned
  // after the last. It may rewrite the answer (S3 turns an <Error> document that came with 200
  // into the status S3 would have used).
  using Classifier = std::function<Status(Response&)>;

  // INVALID_ARGUMENT for bad options; RESOURCE_EXHAUSTED if libcurl cannot allocate.
  static Result<std::unique_ptr<HttpClient>> Create(ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` until an answer is not transient or attempts run out. The result is an error
  // only for transport failures and for transient answers after the last attempt; any other
  // answer, 4xx included, comes back for the caller to map. `classify` defaults to
  // RetryableHttpStatus (transient answers become UNAVAILABLE naming the status and body).
  Result<Response> Call(const Request& request, const Classifier& classify = nullptr);

  // Tells on_retry and sleeps the backoff (Retrier::WaitBeforeRetry), for a store's protocol loops
  // under the same policy: S3's multi-object delete re-sends the keys that failed transiently, a
  // GCS resumable upload resumes where the server says.
  void WaitBeforeRetry(std::string_view op, int attempt, const Status& why);

  const ClientOptions& options() const;

  // Monotonic counters since Create.
  struct Stats {
    uint64_t requests = 0;     // HTTP attempts made, retries included
    uint64_t retries = 0;      // attempts that failed and were retried (WaitBeforeRetry included)
    uint64_t connections = 0;  // new connections opened (the others reused a pooled one)
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
  };
  Stats GetStats() const;

  class Pool;

 private:
  explicit HttpClient(std::unique_ptr<Pool> pool);
  std::unique_ptr<Pool> pool_;
};

}  // namespace tb::objstore::http
