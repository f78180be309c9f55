// S3Store implementation: requests go through the shared HttpClient (pooled libcurl handles, the
// one retry policy) signed by libcurl's SigV4; pugixml for S3's XML documents, OpenSSL for SHA-256
// and MD5. docs/format/s3-store.md is the reference for the wire behaviour.
//
// libcurl 7.88's CURLOPT_AWS_SIGV4 signs exactly what it sends, with these rules (each one would
// otherwise give 403 SignatureDoesNotMatch):
//  - The query string is signed as written: it must be canonical already (sorted, encoded, "name="
//    for a subresource). Request::query holds raw pairs and the URL is built by CanonicalQuery.
//  - The path is signed as written: keys are UriEncode'd per segment, and CURLOPT_PATH_AS_IS keeps
//    curl from normalising "." and ".." segments.
//  - Every header in CURLOPT_HTTPHEADER is signed, including a header-removal entry like
//    "Expect:" that curl then does not send; so no removal entries are ever passed.
//  - x-amz-content-sha256 must be present (curl signs its value; without it, RGW assumes
//    UNSIGNED-PAYLOAD while curl signed the hash of the POST fields).
#include "objstore/s3_store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <pugixml.hpp>
#include <thread>

namespace tb::objstore {

// ---------------------------------------------------------------------------------------------
// Helpers (namespace s3, declared in the header for tests)
// ---------------------------------------------------------------------------------------------
namespace s3 {
namespace {
constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kHexLower[] = "0123456789abcdef";

bool Unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // EVP_Digest only fails on allocation failure; an empty digest then shows up as a server-side
  // hash mismatch rather than as silent corruption.
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string ChildText(const pugi::xml_node& node, const char* name) { return node.child(name).text().as_string(); }
}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size() + s.size() / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (Unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 15]);
    }
  }
  return out;
}

Result<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
      int lo = hi >= 0 ? HexValue(s[i + 2]) : -1;
      if (lo < 0) return Status::InvalidArgument("malformed %-escape in \"" + std::string(s) + "\"");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params) {
  for (auto& [name, value] : params) {
    name = UriEncode(name, false);
    value = UriEncode(value, false);
  }
  std::sort(params.begin(), params.end());  // by encoded name, then value: SigV4's order
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out.push_back('&');
    out += name;
    out.push_back('=');
    out += value;
  }
  return out;
}

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string HexEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    out.push_back(kHexLower[c >> 4]);
    out.push_back(kHexLower[c & 15]);
  }
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Digest(EVP_sha256(), data)); }
std::string Md5Raw(std::string_view data) { return Digest(EVP_md5(), data); }
std::string Md5Base64(std::string_view data) { return Base64Encode(Md5Raw(data)); }

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

ErrorBody ParseErrorBody(std::string_view body) {
  ErrorBody e;
  if (body.empty()) return e;
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size())) return e;
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "Error") return e;
  e.code = ChildText(root, "Code");
  e.message = ChildText(root, "Message");
  return e;
}

Result<ListResult> ParseListObjectsV2(std::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed) return Status::Internal(std::string("unparsable ListObjectsV2 response: ") + parsed.description());
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "ListBucketResult") {
    return Status::Internal("unexpected ListObjectsV2 response element <" + std::string(root.name()) + ">");
  }
  bool url_encoded = ChildText(root, "EncodingType") == "url";
  ListResult out;
  for (pugi::xml_node c = root.child("Contents"); c; c = c.next_sibling("Contents")) {
    ObjectInfo info;
    info.key = ChildText(c, "Key");
    if (url_encoded) {
      TB_ASSIGN_OR_RETURN(info.key, UrlDecode(info.key));
    }
    std::string size = ChildText(c, "Size");
    auto [ptr, ec] = std::from_chars(size.data(), size.data() + size.size(), info.size);
    if (ec != std::errc() || ptr != size.data() + size.size()) {
      return Status::Internal("ListObjectsV2: bad <Size> \"" + size + "\" for " + info.key);
    }
    out.objects.push_back(std::move(info));
  }
  out.truncated = ChildText(root, "IsTruncated") == "true";
  out.next_token = ChildText(root, "NextContinuationToken");
  return out;
}

}  // namespace s3

// ---------------------------------------------------------------------------------------------
// Requests and error mapping
// ---------------------------------------------------------------------------------------------
namespace {

constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr uint64_t kMinPartSize = 5ull << 20;
constexpr uint64_t kMaxPartSize = 5ull << 30;
constexpr uint64_t kMaxParts = 10000;
constexpr size_t kDeleteBatch = 1000;

struct Request {
  const char* method = "GET";
  std::string path;  // encoded, from the first '/' (bucket included for path-style)
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // sent for PUT and POST
  std::string payload_sha256;        // hex; the empty-body hash if empty and the body is empty
  // CompleteMultipartUpload and CopyObject can answer 200 with an <Error> document.
  bool error_may_come_with_200 = false;
  std::string op;  // "PUT blocks/x" for messages
};

using http::AttemptsSuffix;
using http::Response;
using http::Snippet;

bool RetryableErrorCode(std::string_view code) {
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" || code == "ServiceUnavailable" ||
         code == "Throttling" || code == "ThrottlingException" || code == "RequestLimitExceeded" ||
         code == "ConditionalRequestConflict" || code == "OperationAborted";
}

bool RetryableHttp(long status, std::string_view code) {
  if (status == 501) return false;
  return status >= 500 || status == 429 || RetryableErrorCode(code);
}

// The Status for a response that is an error (not 2xx). See docs/format/s3-store.md.
Status HttpError(std::string_view op, const Response& r) {
  s3::ErrorBody e = s3::ParseErrorBody(r.body);
  std::string msg = "s3 " + std::string(op) + ": " + std::to_string(r.status);
  if (!e.code.empty()) msg += " " + e.code;
  if (!e.message.empty()) {
    msg += ": " + e.message;
  } else if (e.code.empty() && !r.body.empty()) {
    msg += ": " + Snippet(r.body);
  }
  if (const std::string* region = r.Header("x-amz-bucket-region")) msg += " (the bucket is in region " + *region + ")";
  msg += AttemptsSuffix(r.attempts);
  const std::string& code = e.code;
  if (r.status == 404) {
    return code == "NoSuchBucket" ? Status::FailedPrecondition(msg) : Status::NotFound(msg);
  }
  if (r.status == 401 || r.status == 403) return Status::FailedPrecondition(msg);
  if (r.status == 400) {
    if (code == "ExpiredToken" || code == "InvalidToken" || code == "InvalidAccessKeyId" ||
        code == "AuthorizationHeaderMalformed" || code == "TokenRefreshRequired" || code == "RequestTimeTooSkewed") {
      return Status::FailedPrecondition(msg);
    }
    if (RetryableErrorCode(code)) return Status::Unavailable(msg);
    return Status::InvalidArgument(msg);
  }
  if (r.status == 416) return Status::InvalidArgument(msg);
  if (r.status == 501) return Status::Unimplemented(msg);
  if (r.status >= 500 || r.status == 429 || RetryableErrorCode(code)) return Status::Unavailable(msg);
  if ((r.status >= 300 && r.status < 400) || r.status == 409 || r.status == 412) {
    return Status::FailedPrecondition(msg);
  }
  return Status::Internal(msg);
}

std::string StripQuotes(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return std::string(s);
}

std::string EnvOr(const std::string& value, const char* name) {
  if (!value.empty()) return value;
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// S3Store::Impl
// ---------------------------------------------------------------------------------------------
class S3Store::Impl {
 public:
  explicit Impl(S3Options o) : opts_(std::move(o)) {}

  Status Init();
  Result<Response> Call(const Request& req);

  // Paths. FullName is the object name of a store key.
  std::string FullName(std::string_view key) const { return prefix_ + std::string(key); }
  std::string ObjectPath(std::string_view key) const {
    return bucket_path_ + "/" + s3::UriEncode(FullName(key), /*keep_slash=*/true);
  }
  std::string BucketPath() const { return bucket_path_.empty() ? "/" : bucket_path_; }
  Status CheckKey(std::string_view op, std::string_view key) const { return CheckCloudKey("s3", op, prefix_, key); }

  Status CheckBucket();
  Status PutSingle(std::string_view key, std::string_view data, PutMode mode);
  Status PutMultipart(std::string_view key, std::string_view data, PutMode mode);
  Result<ObjectInfo> HeadObject(std::string_view key);
  Result<std::string> GetObject(std::string_view key, uint64_t offset, uint64_t length);
  Result<ListPage> ListObjects(std::string_view prefix, std::string_view token, int max_keys);
  Status DeleteObjects(const std::vector<std::string>& keys);
  Status DeleteBatch(const std::string* keys, size_t n);
  // After a bodiless failure (HEAD), a GET of the same resource to learn S3's error code.
  std::string ExplainHeadFailure(const Request& head);

  S3Options opts_;
  std::string describe_;
  std::string prefix_;       // "" or ends with '/'
  std::string origin_;       // "http://host:port" (virtual-hosted: "http://bucket.host:port")
  std::string bucket_path_;  // "/base/bucket" (path-style) or "/base" (virtual-hosted) or ""

  std::unique_ptr<http::HttpClient> client_;
  std::atomic<uint64_t> multipart_uploads_{0};
};

Status S3Store::Impl::Init() {
  S3Options& o = opts_;
  if (o.bucket.empty()) return Status::InvalidArgument("s3: bucket is empty");
  if (o.region.empty() || o.region.find(':') != std::string::npos) {
    return Status::InvalidArgument("s3: bad region \"" + o.region + "\"");
  }
  if (o.upload_parallelism < 1) return Status::InvalidArgument("s3: upload_parallelism must be >= 1");
  if (o.part_size < kMinPartSize || o.part_size > kMaxPartSize) {
    return Status::InvalidArgument("s3: part_size must be within [5 MiB, 5 GiB]");
  }
  if (o.multipart_threshold < 1) return Status::InvalidArgument("s3: multipart_threshold must be >= 1");
  if (!o.prefix.empty() && o.prefix.front() == '/')
    return Status::InvalidArgument("s3: prefix must not start with '/'");
  o.access_key = EnvOr(o.access_key, "AWS_ACCESS_KEY_ID");
  o.secret_key = EnvOr(o.secret_key, "AWS_SECRET_ACCESS_KEY");
  o.session_token = EnvOr(o.session_token, "AWS_SESSION_TOKEN");
  if (o.access_key.empty() || o.secret_key.empty()) {
    return Status::InvalidArgument(
        "s3: no credentials (set access_key/secret_key or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)");
  }

  // endpoint = scheme "://" authority [path]
  std::string_view ep = o.endpoint;
  size_t scheme_end = ep.find("://");
  if (scheme_end == std::string_view::npos ||
      (ep.substr(0, scheme_end) != "http" && ep.substr(0, scheme_end) != "https")) {
    return Status::InvalidArgument("s3: endpoint must start with http:// or https://: \"" + o.endpoint + "\"");
  }
  std::string_view scheme = ep.substr(0, scheme_end);
  std::string_view rest = ep.substr(scheme_end + 3);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string base_path(slash == std::string_view::npos ? std::string_view() : rest.substr(slash));
  while (!base_path.empty() && base_path.back() == '/') base_path.pop_back();
  if (authority.empty() || authority.find_first_of("?#@") != std::string_view::npos) {
    return Status::InvalidArgument("s3: bad endpoint \"" + o.endpoint + "\"");
  }
  if (o.path_style) {
    origin_ = std::string(scheme) + "://" + std::string(authority);
    bucket_path_ = base_path + "/" + s3::UriEncode(o.bucket, false);
  } else {
    origin_ = std::string(scheme) + "://" + o.bucket + "." + std::string(authority);
    bucket_path_ = base_path;
  }
  prefix_ = o.prefix;
  if (!prefix_.empty() && prefix_.back() != '/') prefix_.push_back('/');
  describe_ = "s3://" + o.bucket + (prefix_.empty() ? "" : "/" + prefix_.substr(0, prefix_.size() - 1));
  http::ClientOptions client;
  client.service = "s3";
  client.verify_tls = o.verify_tls;
  client.ca_file = o.ca_file;
  client.connect_timeout = o.connect_timeout;
  client.request_timeout = o.request_timeout;
  client.max_connections = o.max_connections;
  client.retry = o.retry;
  client.aws_sigv4 = "aws:amz:" + o.region + ":s3";
  client.aws_access_key = o.access_key;
  client.aws_secret_key = o.secret_key;
  TB_ASSIGN_OR_RETURN(client_, http::HttpClient::Create(std::move(client)));
  return Status::Ok();
}

Result<Response> S3Store::Impl::Call(const Request& req) {
  http::Request out;
  out.method = req.method;
  out.url = origin_ + req.path;
  if (!req.query.empty()) out.url += "?" + s3::CanonicalQuery(req.query);
  out.headers = req.headers;
  // x-amz-content-sha256 must be present: curl signs its value.
  out.headers.push_back("x-amz-content-sha256: " +
                        (req.payload_sha256.empty()
                             ? (req.body.empty() ? std::string(kEmptySha256) : s3::Sha256Hex(req.body))
                             : req.payload_sha256));
  if (!opts_.session_token.empty()) out.headers.push_back("x-amz-security-token: " + opts_.session_token);
  out.body = req.body;
  out.op = req.op;
  return client_->Call(out, [&](Response& resp) {
    if (req.error_may_come_with_200 && resp.status == 200) {
      s3::ErrorBody e = s3::ParseErrorBody(resp.body);
      // Treated (and reported) as the status S3 would have used for that error.
      if (!e.code.empty()) resp.status = RetryableErrorCode(e.code) ? 503 : 400;
    }
    if (resp.status >= 200 && resp.status < 300) return Status::Ok();
    if (!RetryableHttp(resp.status, s3::ParseErrorBody(resp.body).code)) return Status::Ok();  // the caller maps it
    return HttpError(req.op, resp);
  });
}

std::string S3Store::Impl::ExplainHeadFailure(const Request& head) {
  Request get = head;
  get.method = "GET";
  if (get.query.empty() && head.path != BucketPath()) {
    get.headers.push_back("Range: bytes=0-0");
  } else if (get.query.empty()) {
    get.query = {{"list-type", "2"}, {"max-keys", "1"}};
  }
  Result<Response> r = Call(get);
  if (!r.ok() || r->status < 300) return {};
  s3::ErrorBody e = s3::ParseErrorBody(r->body);
  if (e.code.empty()) return {};
  return e.message.empty() ? e.code : e.code + ": " + e.message;
}

Status S3Store::Impl::CheckBucket() {
  Request head;
  head.method = "HEAD";
  head.path = BucketPath();
  head.op = "HEAD bucket " + opts_.bucket;
  TB_ASSIGN_OR_RETURN(Response r, Call(head));
  if (r.status == 200) return Status::Ok();
  if (r.status == 404) {
    if (!opts_.create_bucket) {
      return Status::FailedPrecondition("s3 " + head.op + ": 404: the bucket does not exist at " + opts_.endpoint);
    }
    Request put;
    put.method = "PUT";
    put.path = BucketPath();
    put.op = "PUT bucket " + opts_.bucket;
    std::string body;
    if (opts_.region != "us-east-1") {
      body = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
             s3::XmlEscape(opts_.region) + "</LocationConstraint></CreateBucketConfiguration>";
      put.headers.push_back("Content-Type: application/xml");
    }
    put.body = body;
    TB_ASSIGN_OR_RETURN(Response created, Call(put));
    if (created.status == 200) return Status::Ok();
    if (s3::ParseErrorBody(created.body).code == "BucketAlreadyOwnedByYou") return Status::Ok();
    return HttpError(put.op, created);
  }
  std::string why = ExplainHeadFailure(head);
  Status s = HttpError(head.op, r);
  return why.empty() ? s : Status(s.code(), s.message() + " " + why);
}

Status S3Store::Impl::PutSingle(std::string_view key, std::string_view data, PutMode mode) {
  Request req;
  req.method = "PUT";
  req.path = ObjectPath(key);
  req.body = data;
  req.op = "PUT " + std::string(key);
  std::string md5 = s3::Md5Raw(data);
  req.headers.push_back("Content-MD5: " + s3::Md5Base64(data));
  if (mode == PutMode::kCreateOnly) req.headers.push_back("If-None-Match: *");
  req.payload_sha256 = s3::Sha256Hex(data);
  TB_ASSIGN_OR_RETURN(Response r, Call(req));
  if (r.status == 200) return Status::Ok();
  if (r.status == 412 && mode == PutMode::kCreateOnly) {
    // Our own earlier attempt, if it was, left our content: our MD5 as the object's ETag.
    return CreateOnlyRefusal(r.attempts, Status::AlreadyExists("s3 " + req.op + ": the object already exists"), [&] {
      Request head;
      head.method = "HEAD";
      head.path = req.path;
      head.op = "HEAD " + std::string(key);
      Result<Response> h = Call(head);
      const std::string* etag = h.ok() && h->status == 200 ? h->Header("etag") : nullptr;
      return etag != nullptr && StripQuotes(*etag) == s3::HexEncode(md5);
    });
  }
  return HttpError(req.op, r);
}

Status S3Store::Impl::PutMultipart(std::string_view key, std::string_view data, PutMode mode) {
  std::string skey(key);
  if (mode == PutMode::kCreateOnly) {  // not atomic: see the header and docs/format/s3-store.md
    Result<ObjectInfo> existing = HeadObject(key);
    if (existing.ok()) return Status::AlreadyExists("s3 PUT " + skey + ": the object already exists");
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  }
  uint64_t part_size = std::max<uint64_t>(opts_.part_size, (data.size() + kMaxParts - 1) / kMaxParts);
  size_t parts = static_cast<size_t>((data.size() + part_size - 1) / part_size);
  const std::string path = ObjectPath(key);

  Request init;
  init.method = "POST";
  init.path = path;
  init.query = {{"uploads", ""}};
  init.op = "POST " + skey + " (create multipart upload)";
  TB_ASSIGN_OR_RETURN(Response ir, Call(init));
  if (ir.status != 200) return HttpError(init.op, ir);
  std::string upload_id;
  {
    pugi::xml_document doc;
    if (doc.load_buffer(ir.body.data(), ir.body.size())) {
      upload_id = doc.document_element().child("UploadId").text().as_string();
    }
    if (upload_id.empty()) return Status::Internal("s3 " + init.op + ": no UploadId in " + Snippet(ir.body));
  }

  auto abort_upload = [&](Status cause) {
    Request abort;
    abort.method = "DELETE";
    abort.path = path;
    abort.query = {{"uploadId", upload_id}};
    abort.op = "DELETE " + skey + " (abort multipart upload)";
    Result<Response> ar = Call(abort);
    if (!ar.ok()) return Status(cause.code(), cause.message() + "; abort failed: " + ar.status().message());
    if (ar->status != 204 && ar->status != 200 && ar->status != 404) {
      return Status(cause.code(), cause.message() + "; abort failed: " + HttpError(abort.op, *ar).message());
    }
    return cause;
  };

  std::vector<std::string> etags(parts), md5s(parts);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status first_error;
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < parts;) {
      std::string_view body = data.substr(i * part_size, part_size);
      Request req;
      req.method = "PUT";
      req.path = path;
      req.query = {{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}};
      req.body = body;
      req.op = "PUT " + skey + " (part " + std::to_string(i + 1) + " of " + std::to_string(parts) + ")";
      md5s[i] = s3::Md5Raw(body);
      req.headers.push_back("Content-MD5: " + s3::Md5Base64(body));
      req.payload_sha256 = s3::Sha256Hex(body);
      Result<Response> r = Call(req);
      Status s;
      if (!r.ok()) {
        s = r.status();
      } else if (r->status != 200) {
        s = HttpError(req.op, *r);
      } else if (const std::string* etag = r->Header("etag"); etag && !etag->empty()) {
        etags[i] = *etag;
      } else {
        s = Status::Internal("s3 " + req.op + ": no ETag in the response");
      }
      if (!s.ok()) {
        std::lock_guard lock(error_mu);
        if (first_error.ok()) first_error = s;
        failed = true;
      }
    }
  };
  size_t n_threads = std::min<size_t>(
      {parts, static_cast<size_t>(opts_.upload_parallelism), static_cast<size_t>(opts_.max_connections)});
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  if (failed) return abort_upload(first_error);

  std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  std::string all_md5s;
  for (size_t i = 0; i < parts; ++i) {
    xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + s3::XmlEscape(etags[i]) +
           "</ETag></Part>";
    all_md5s += md5s[i];
  }
  xml += "</CompleteMultipartUpload>";
  Request complete;
  complete.method = "POST";
  complete.path = path;
  complete.query = {{"uploadId", upload_id}};
  complete.headers.push_back("Content-Type: application/xml");
  complete.body = xml;
  complete.error_may_come_with_200 = true;
  complete.op = "POST " + skey + " (complete multipart upload)";
  Result<Response> cr = Call(complete);
  if (!cr.ok()) return abort_upload(cr.status());
  if (cr->status != 200) {
    // A retried Complete whose first attempt succeeded finds the upload gone; the object then
    // carries the multipart ETag of exactly our parts.
    if (cr->status == 404 && cr->attempts > 1) {
      Request head;
      head.method = "HEAD";
      head.path = path;
      head.op = "HEAD " + skey;
      Result<Response> h = Call(head);
      std::string expected = s3::HexEncode(s3::Md5Raw(all_md5s)) + "-" + std::to_string(parts);
      const std::string* etag = h.ok() && h->status == 200 ? h->Header("etag") : nullptr;
      if (etag && StripQuotes(*etag) == expected) {
        ++multipart_uploads_;
        return Status::Ok();
      }
    }
    return abort_upload(HttpError(complete.op, *cr));
  }
  ++multipart_uploads_;
  return Status::Ok();
}

Result<ObjectInfo> S3Store::Impl::HeadObject(std::string_view key) {
  Request req;
  req.method = "HEAD";
  req.path = ObjectPath(key);
  req.op = "HEAD " + std::string(key);
  TB_ASSIGN_OR_RETURN(Response r, Call(req));
  if (r.status == 200) {
    const std::string* len = r.Header("content-length");
    ObjectInfo info;
    info.key = std::string(key);
    if (!len) return Status::Internal("s3 " + req.op + ": no Content-Length");
    auto [ptr, ec] = std::from_chars(len->data(), len->data() + len->size(), info.size);
    if (ec != std::errc()) return Status::Internal("s3 " + req.op + ": bad Content-Length " + *len);
    return info;
  }
  if (r.status == 404) return Status::NotFound("s3 " + req.op + ": 404 no such object");
  std::string why = ExplainHeadFailure(req);
  Status s = HttpError(req.op, r);
  return why.empty() ? s : Status(s.code(), s.message() + " " + why);
}

Result<std::string> S3Store::Impl::GetObject(std::string_view key, uint64_t offset, uint64_t length) {
  http::RangedGet g;
  g.service = "s3";
  g.op = "GET " + std::string(key);
  g.get = [&](const std::string& range) {
    Request req;
    req.method = "GET";
    req.path = ObjectPath(key);
    req.op = g.op;
    if (!range.empty()) req.headers.push_back("Range: " + range);
    return Call(req);
  };
  g.size = [&]() -> Result<uint64_t> {
    TB_ASSIGN_OR_RETURN(ObjectInfo info, HeadObject(key));
    return info.size;
  };
  g.error = [&](const Response& r) { return HttpError(g.op, r); };
  return http::ReadRange(g, offset, length);
}

Result<ListPage> S3Store::Impl::ListObjects(std::string_view prefix, std::string_view token, int max_keys) {
  if (max_keys < 1 || max_keys > 1000) return Status::InvalidArgument("s3 LIST: max_keys must be in 1..1000");
  Request req;
  req.method = "GET";
  req.path = BucketPath();
  req.op = "LIST " + std::string(prefix);
  req.query = {{"list-type", "2"}, {"encoding-type", "url"}, {"max-keys", std::to_string(max_keys)}};
  std::string full_prefix = FullName(prefix);
  if (!full_prefix.empty()) req.query.emplace_back("prefix", full_prefix);
  if (!token.empty()) req.query.emplace_back("continuation-token", std::string(token));
  TB_ASSIGN_OR_RETURN(Response r, Call(req));
  if (r.status != 200) return HttpError(req.op, r);
  Result<s3::ListResult> parsed = s3::ParseListObjectsV2(r.body);
  if (!parsed.ok()) return parsed.status().WithContext("s3 " + req.op);
  ListPage page;
  page.objects.reserve(parsed->objects.size());
  for (ObjectInfo& o : parsed->objects) {
    if (!o.key.starts_with(prefix_)) {
      return Status::Internal("s3 " + req.op + ": listed key \"" + o.key + "\" is outside the prefix");
    }
    o.key.erase(0, prefix_.size());
    page.objects.push_back(std::move(o));
  }
  if (parsed->truncated) {
    if (parsed->next_token.empty()) return Status::Internal("s3 " + req.op + ": truncated page without a token");
    page.next_token = std::move(parsed->next_token);
  }
  return page;
}

Status S3Store::Impl::DeleteBatch(const std::string* keys, size_t n) {
  // Keys whose per-key error is transient (InternalError, SlowDown) are sent again, with the
  // same backoff as whole requests.
  std::vector<std::string> pending(keys, keys + n);
  for (int round = 1;; ++round) {
    std::string xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Quiet>true</Quiet>";
    for (const std::string& key : pending) xml += "<Object><Key>" + s3::XmlEscape(FullName(key)) + "</Key></Object>";
    xml += "</Delete>";
    Request req;
    req.method = "POST";
    req.path = BucketPath();
    req.query = {{"delete", ""}};
    req.headers.push_back("Content-MD5: " + s3::Md5Base64(xml));
    req.headers.push_back("Content-Type: application/xml");
    req.body = xml;
    req.op = "DELETE " + std::to_string(pending.size()) + " keys (" + pending.front() + " ...)";
    TB_ASSIGN_OR_RETURN(Response r, Call(req));
    if (r.status != 200) return HttpError(req.op, r);
    pugi::xml_document doc;
    if (!doc.load_buffer(r.body.data(), r.body.size())) {
      return Status::Internal("s3 " + req.op + ": unparsable response " + Snippet(r.body));
    }
    pugi::xml_node root = doc.document_element();
    if (std::string_view(root.name()) == "Error") {
      Response as_error = r;
      as_error.status = 500;
      return HttpError(req.op, as_error);
    }
    std::vector<std::string> retry;
    std::vector<std::string> failures;
    std::string first_code;
    for (pugi::xml_node e = root.child("Error"); e; e = e.next_sibling("Error")) {
      std::string code = e.child("Code").text().as_string();
      if (code == "NoSuchKey") continue;
      std::string key = e.child("Key").text().as_string();
      if (key.starts_with(prefix_)) key.erase(0, prefix_.size());
      if (RetryableErrorCode(code) && round < opts_.retry.max_attempts) {
        retry.push_back(std::move(key));
        continue;
      }
      if (first_code.empty()) first_code = code;
      std::string message = e.child("Message").text().as_string();
      failures.push_back(key + ": " + code + (message.empty() ? "" : ": " + message));
    }
    if (!failures.empty()) {
      std::string msg = "s3 " + req.op + ": " + std::to_string(failures.size()) + " keys not deleted: ";
      for (size_t i = 0; i < failures.size() && i < 5; ++i) msg += (i ? "; " : "") + failures[i];
      if (failures.size() > 5) msg += "; ...";
      if (RetryableErrorCode(first_code)) return Status::Unavailable(msg);
      if (first_code == "AccessDenied") return Status::FailedPrecondition(msg);
      return Status::Internal(msg);
    }
    if (retry.empty()) return Status::Ok();
    client_->WaitBeforeRetry(
        req.op, round,
        Status::Unavailable("s3 " + req.op + ": " + std::to_string(retry.size()) + " keys failed transiently"));
    pending = std::move(retry);
  }
}

Status S3Store::Impl::DeleteObjects(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) TB_RETURN_IF_ERROR(CheckKey("DELETE", key));
  for (size_t i = 0; i < keys.size(); i += kDeleteBatch) {
    TB_RETURN_IF_ERROR(DeleteBatch(keys.data() + i, std::min(kDeleteBatch, keys.size() - i)));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// S3Store
// ---------------------------------------------------------------------------------------------
S3Store::S3Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3Store::~S3Store() = default;

Result<std::shared_ptr<S3Store>> S3Store::Open(S3Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  TB_RETURN_IF_ERROR(impl->Init());
  TB_RETURN_IF_ERROR(impl->CheckBucket());
  return std::shared_ptr<S3Store>(new S3Store(std::move(impl)));
}

std::string S3Store::Describe() const { return impl_->describe_; }

Status S3Store::Put(std::string_view key, std::string_view data, PutMode mode) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("PUT", key));
  if (data.size() >= impl_->opts_.multipart_threshold) return impl_->PutMultipart(key, data, mode);
  return impl_->PutSingle(key, data, mode);
}

Result<std::string> S3Store::Get(std::string_view key, uint64_t offset, uint64_t length) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("GET", key));
  return impl_->GetObject(key, offset, length);
}

Result<ObjectInfo> S3Store::Head(std::string_view key) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("HEAD", key));
  return impl_->HeadObject(key);
}

Result<ListPage> S3Store::List(std::string_view prefix, std::string_view token, int max_keys) {
  return impl_->ListObjects(prefix, token, max_keys);
}

Status S3Store::Delete(const std::vector<std::string>& keys) { return impl_->DeleteObjects(keys); }

S3Store::Stats S3Store::GetStats() const {
  http::HttpClient::Stats c = impl_->client_->GetStats();
  Stats s;
  s.requests = c.requests;
  s.retries = c.retries;
  s.connections = c.connections;
  s.bytes_sent = c.bytes_sent;
  s.bytes_received = c.bytes_received;
  s.multipart_uploads = impl_->multipart_uploads_;
  return s;
}

Status S3Store::DeleteBucketForTest() {
  for (;;) {  // delete page by page until the listing is empty
    TB_ASSIGN_OR_RETURN(ListPage page, impl_->ListObjects("", "", 1000));
    if (page.objects.empty()) break;
    std::vector<std::string> keys;
    for (ObjectInfo& o : page.objects) keys.push_back(std::move(o.key));
    TB_RETURN_IF_ERROR(impl_->DeleteObjects(keys));
  }
  Request req;
  req.method = "DELETE";
  req.path = impl_->BucketPath();
  req.op = "DELETE bucket " + impl_->opts_.bucket;
  TB_ASSIGN_OR_RETURN(Response r, impl_->Call(req));
  if (r.status == 204 || r.status == 200) return Status::Ok();
  return HttpError(req.op, r);
}

}  // namespace tb::objstore
