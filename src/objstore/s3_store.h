// S3Store: an ObjectStore on an S3-compatible bucket (AWS S3, Ceph RADOS Gateway, …), spoken over
// libcurl with libcurl's own SigV4 signing (CURLOPT_AWS_SIGV4). docs/format/s3-store.md describes
// the requests, headers, retries, multipart policy and error mapping.
//
// Keys map to objects "<prefix><key>" in the bucket; List returns keys relative to the prefix.
// Create-only puts use `If-None-Match: *`, which S3 and RGW evaluate atomically for single PUTs;
// objects of at least `multipart_threshold` bytes are uploaded in parts, and there the
// create-only check is a HEAD before the upload (not atomic): callers must give such objects names
// for which a lost race is harmless (e.g. content-addressed names).
//
// Thread-safety: every method may be called concurrently. Requests go through the shared
// http::HttpClient (http_client.h): pooled connections, at most `max_connections` at a time, and
// the retry policy every cloud store uses.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "objstore/http_client.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::objstore {

struct S3Options {
  // Scheme, host and optional port (and optional base path): "http://127.0.0.1:7480",
  // "https://s3.eu-west-1.amazonaws.com".
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  // Object-name prefix of this store inside the bucket. Empty, or a folder-like prefix: a missing
  // trailing '/' is added ("tenant-a" stores key "x" as object "tenant-a/x"). Must not start with '/'.
  std::string prefix;
  // true: http://host/bucket/key. false (virtual-hosted): http://bucket.host/key.
  bool path_style = true;
  // Credentials. An empty access_key (or secret_key, session_token) is taken from the environment:
  // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. The session token is sent as
  // x-amz-security-token when non-empty.
  std::string access_key;
  std::string secret_key;
  std::string session_token;
  // TLS: verify the server's certificate (against ca_file if set, else the system store).
  bool verify_tls = true;
  std::string ca_file;

  std::chrono::milliseconds connect_timeout{5000};
  // Per attempt, the whole request including the body transfer; 0 means no limit.
  std::chrono::milliseconds request_timeout{120000};
  // The retry policy of every store (retry_policy.h), applied to each HTTP request. Transient here:
  // connection errors, timeouts, 5xx (except 501), 429, SlowDown, RequestTimeout,
  // ConditionalRequestConflict.
  RetryPolicy retry;

  // Objects of at least this many bytes are uploaded with a multipart upload.
  uint64_t multipart_threshold = 64ull << 20;
  // Part size of multipart uploads (>= 5 MiB, S3's minimum for every part but the last). Raised
  // automatically if an object would need more than 10000 parts.
  uint64_t part_size = 16ull << 20;
  // Parts of one multipart upload sent in parallel.
  int upload_parallelism = 4;
  // Concurrent requests (and pooled connections) of this store; further requests wait.
  int max_connections = 32;

  // Open creates the bucket if it does not exist (tests; production buckets are provisioned).
  bool create_bucket = false;
};

class S3Store final : public ObjectStore {
 public:
  // Checks the options, creates the connection pool, and checks with a HEAD request that the
  // bucket exists and the credentials work (creating the bucket if `create_bucket`).
  // FAILED_PRECONDITION: bad credentials or permissions, no such bucket; INVALID_ARGUMENT: bad
  // options; UNAVAILABLE: the endpoint did not answer after every attempt.
  static Result<std::shared_ptr<S3Store>> Open(S3Options options);

  ~S3Store() override;
  S3Store(const S3Store&) = delete;
  S3Store& operator=(const S3Store&) = delete;

  std::string Describe() const override;  // "s3://bucket/prefix"
  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;
  // true: single PUTs are atomic create-if-absent; multipart uploads are not (see above).
  bool SupportsCreateOnly() const override { return true; }

  // Monotonic counters since Open.
  struct Stats {
    uint64_t requests = 0;     // HTTP attempts made, retries included
    uint64_t retries = 0;      // attempts that failed and were retried
    uint64_t connections = 0;  // new connections opened (the others reused a pooled one)
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    uint64_t multipart_uploads = 0;  // completed
  };
  Stats GetStats() const;

  // Deletes every object under the store's prefix, then the bucket itself (tests only).
  Status DeleteBucketForTest();

  class Impl;

 private:
  explicit S3Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Helpers of the implementation, exposed for unit tests.
namespace s3 {

// RFC 3986 percent-encoding: A-Z a-z 0-9 '-' '.' '_' '~' are kept, '/' too if keep_slash, every
// other byte becomes %XX (upper-case hex) — what SigV4's canonical request expects.
std::string UriEncode(std::string_view s, bool keep_slash);
// Inverse of the encoding of ListObjectsV2's `encoding-type=url` ('+' decodes to a space, as AWS
// encodes spaces that way). INVALID_ARGUMENT on a malformed %-escape.
Result<std::string> UrlDecode(std::string_view s);
// "a=1&b=&c=x%2Fy": sorted by name (then value), names and values UriEncode'd, a parameter without
// a value written as "name=" — the canonical query string that SigV4 signs (libcurl 7.88 signs the
// query as sent, so it must already be canonical).
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params);
// Escapes & < > " ' for XML text and attribute values.
std::string XmlEscape(std::string_view s);
std::string Sha256Hex(std::string_view data);  // lower-case hex
std::string Md5Base64(std::string_view data);  // Content-MD5
std::string Md5Raw(std::string_view data);     // 16 bytes
std::string HexEncode(std::string_view bytes);
std::string Base64Encode(std::string_view bytes);  // RFC 4648, padded

struct ErrorBody {
  std::string code;     // "NoSuchKey"; empty when the body is not an S3 <Error> document
  std::string message;  // may be empty (RGW often sends none)
};
ErrorBody ParseErrorBody(std::string_view body);

struct ListResult {
  std::vector<ObjectInfo> objects;  // full object names, decoded
  bool truncated = false;
  std::string next_token;
};
// Parses a ListObjectsV2 response (decoding keys if it says <EncodingType>url</EncodingType>).
Result<ListResult> ParseListObjectsV2(std::string_view xml);

}  // namespace s3
}  // namespace tb::objstore
