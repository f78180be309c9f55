// GcsStore implementation: GCS's JSON API (storage/v1) over the shared HTTP client, nlohmann::json
// for its documents. docs/format/gcs-store.md is the reference for the wire behaviour.
#include "objstore/gcs_store.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "objstore/s3_store.h"  // s3::UriEncode, s3::Md5Base64: the same encodings serve GCS

namespace tb::objstore {
namespace gcs {

std::string EmulatorEndpoint(std::string_view host) {
  std::string url(host);
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.find("://") == std::string::npos) url = "http://" + url;
  return url;
}

Result<uint64_t> PersistedBytes(const std::string* range_header) {
  if (range_header == nullptr) return uint64_t{0};
  std::string_view r = *range_header;
  uint64_t last = 0;
  if (!r.starts_with("bytes=0-")) return Status::Internal("gcs: malformed Range \"" + *range_header + "\"");
  r.remove_prefix(8);
  auto [ptr, ec] = std::from_chars(r.data(), r.data() + r.size(), last);
  if (ec != std::errc() || ptr != r.data() + r.size()) {
    return Status::Internal("gcs: malformed Range \"" + *range_header + "\"");
  }
  return last + 1;
}

}  // namespace gcs

namespace {

constexpr uint64_t kChunkGranule = 256 << 10;  // resumable chunks are multiples of this

std::string Encode(std::string_view s) { return s3::UriEncode(s, /*keep_slash=*/false); }

// {"error": {"code": 412, "message": "...", "errors": [{"reason": "conditionNotMet", ...}]}}
struct ErrorBody {
  std::string reason;
  std::string message;
};

ErrorBody ParseErrorBody(std::string_view body) {
  ErrorBody e;
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("error") || !doc["error"].is_object()) return e;
  const nlohmann::json& error = doc["error"];
  if (error.contains("message") && error["message"].is_string()) e.message = error["message"].get<std::string>();
  if (error.contains("errors") && error["errors"].is_array() && !error["errors"].empty()) {
    const nlohmann::json& first = error["errors"][0];
    if (first.is_object() && first.contains("reason") && first["reason"].is_string()) {
      e.reason = first["reason"].get<std::string>();
    }
  }
  return e;
}

// The Status of an answer that is an error (not 2xx). See docs/format/gcs-store.md, "Errors".
Status HttpError(std::string_view op, const http::Response& r) {
  ErrorBody e = ParseErrorBody(r.body);
  std::string msg = "gcs " + std::string(op) + ": " + std::to_string(r.status);
  if (!e.reason.empty()) msg += " " + e.reason;
  if (!e.message.empty()) {
    msg += ": " + e.message;
  } else if (e.reason.empty() && !r.body.empty()) {
    msg += ": " + http::Snippet(r.body);
  }
  msg += http::AttemptsSuffix(r.attempts);
  if (r.status == 404) return Status::NotFound(msg);
  if (r.status == 401 || r.status == 403 || r.status == 409 || r.status == 412) return Status::FailedPrecondition(msg);
  if (r.status == 400 || r.status == 411 || r.status == 413 || r.status == 416) return Status::InvalidArgument(msg);
  if (r.status == 501) return Status::Unimplemented(msg);
  if (http::RetryableHttpStatus(r.status)) return Status::Unavailable(msg);
  return Status::Internal(msg);
}

Result<uint64_t> ParseSize(std::string_view op, const nlohmann::json& object) {
  // The JSON API writes 64-bit numbers as strings.
  auto it = object.find("size");
  if (it == object.end() || !it->is_string()) return Status::Internal("gcs " + std::string(op) + ": no size");
  const std::string& text = it->get_ref<const std::string&>();
  uint64_t size = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), size);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::Internal("gcs " + std::string(op) + ": bad size \"" + text + "\"");
  }
  return size;
}

// The md5Hash member of an object resource, or "".
std::string Md5Of(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("md5Hash") || !doc["md5Hash"].is_string()) return {};
  return doc["md5Hash"].get<std::string>();
}

std::string RandomBoundary() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string b = "tracebucket-";
  for (int i = 0; i < 32; ++i) b.push_back(kHex[rng() & 15]);
  return b;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GcsStore::Impl
// ---------------------------------------------------------------------------------------------
class GcsStore::Impl {
 public:
  explicit Impl(GcsOptions o) : opts_(std::move(o)) {}

  Status Init();
  Status CheckBucket();
  Status PutMultipart(std::string_view key, std::string_view data, PutMode mode);
  Status PutResumable(std::string_view key, std::string_view data, PutMode mode);
  Result<ObjectInfo> HeadObject(std::string_view key);
  Result<std::string> GetObject(std::string_view key, uint64_t offset, uint64_t length);
  Result<ListPage> ListObjects(std::string_view prefix, std::string_view token, int max_keys);
  Status DeleteObjects(const std::vector<std::string>& keys);

  Status CheckKey(std::string_view op, std::string_view key) const { return CheckCloudKey("gcs", op, prefix_, key); }

  GcsOptions opts_;
  std::string describe_;
  std::string prefix_;      // "" or ends with '/'
  std::string endpoint_;    // without a trailing '/'
  std::string bucket_url_;  // <endpoint>/storage/v1/b/<bucket>
  std::string upload_url_;  // <endpoint>/upload/storage/v1/b/<bucket>/o
  std::unique_ptr<http::HttpClient> client_;
  // For the chunks of resumable uploads, which are never sent twice blindly: after a failure the
  // store asks GCS how much it holds and goes on from there (one attempt per request here).
  std::unique_ptr<http::HttpClient> session_client_;
  std::atomic<uint64_t> resumable_uploads_{0}, resumes_{0};

 private:
  std::string ObjectUrl(std::string_view key) const { return bucket_url_ + "/o/" + Encode(FullName(key)); }
  std::string FullName(std::string_view key) const { return prefix_ + std::string(key); }
  // Sends `req` with the current access token; a 401 forgets that token and sends once more with
  // a new one (a token revoked or expired earlier than announced).
  Result<http::Response> Send(http::HttpClient& client, http::Request req);
  // After a 412 on a create-only upload that was retried: whether the object holds our bytes,
  // i.e. an earlier attempt of this very call created it and its answer was lost.
  bool HoldsOurUpload(std::string_view key, const std::string& md5);
  Status AlreadyExists(std::string_view op) const {
    return Status::AlreadyExists("gcs " + std::string(op) + ": the object already exists");
  }
};

Status GcsStore::Impl::Init() {
  GcsOptions& o = opts_;
  if (o.bucket.empty() || o.bucket.find('/') != std::string::npos) {
    return Status::InvalidArgument("gcs: bad bucket \"" + o.bucket + "\"");
  }
  if (!o.prefix.empty() && o.prefix.front() == '/')
    return Status::InvalidArgument("gcs: prefix must not start with '/'");
  if (o.chunk_size == 0 || o.chunk_size % kChunkGranule != 0) {
    return Status::InvalidArgument("gcs: chunk_size must be a positive multiple of 256 KiB");
  }
  if (o.resumable_threshold < 1) return Status::InvalidArgument("gcs: resumable_threshold must be >= 1");
  if (o.delete_parallelism < 1) return Status::InvalidArgument("gcs: delete_parallelism must be >= 1");
  endpoint_ = o.endpoint;
  while (!endpoint_.empty() && endpoint_.back() == '/') endpoint_.pop_back();
  if (!endpoint_.starts_with("http://") && !endpoint_.starts_with("https://")) {
    return Status::InvalidArgument("gcs: endpoint must start with http:// or https://: \"" + o.endpoint + "\"");
  }
  bucket_url_ = endpoint_ + "/storage/v1/b/" + Encode(o.bucket);
  upload_url_ = endpoint_ + "/upload/storage/v1/b/" + Encode(o.bucket) + "/o";
  prefix_ = o.prefix;
  if (!prefix_.empty() && prefix_.back() != '/') prefix_.push_back('/');
  describe_ = "gs://" + o.bucket + (prefix_.empty() ? "" : "/" + prefix_.substr(0, prefix_.size() - 1));

  o.http.service = "gcs";
  TB_ASSIGN_OR_RETURN(client_, http::HttpClient::Create(o.http));
  http::ClientOptions session = o.http;
  session.retry.max_attempts = 1;
  session.max_connections = std::max(1, o.http.max_connections / 4);
  TB_ASSIGN_OR_RETURN(session_client_, http::HttpClient::Create(std::move(session)));
  return Status::Ok();
}

Result<http::Response> GcsStore::Impl::Send(http::HttpClient& client, http::Request req) {
  if (!opts_.credentials) return client.Call(req);
  const size_t auth_at = req.headers.size();
  req.headers.emplace_back();
  for (int round = 0;; ++round) {
    TB_ASSIGN_OR_RETURN(std::string token, opts_.credentials->Token());
    req.headers[auth_at] = "Authorization: Bearer " + token;
    TB_ASSIGN_OR_RETURN(http::Response r, client.Call(req));
    if (r.status != 401 || round > 0) return r;
    opts_.credentials->Invalidate(token);
  }
}

Status GcsStore::Impl::CheckBucket() {
  http::Request list;
  list.url = bucket_url_ + "/o?maxResults=1&fields=" + Encode("items(name)") + "&prefix=" + Encode(prefix_);
  list.op = "LIST " + describe_;
  TB_ASSIGN_OR_RETURN(http::Response r, Send(*client_, list));
  if (r.status == 200) return Status::Ok();
  if (r.status == 404) {
    if (!opts_.create_bucket) {
      return Status::FailedPrecondition("gcs " + list.op + ": 404: the bucket does not exist at " + opts_.endpoint);
    }
    nlohmann::json bucket = {{"name", opts_.bucket}};
    std::string body = bucket.dump();
    http::Request create;
    create.method = "POST";
    create.url = endpoint_ + "/storage/v1/b" + (opts_.project.empty() ? "" : "?project=" + Encode(opts_.project));
    create.headers = {"Content-Type: application/json"};
    create.body = body;
    create.op = "CREATE bucket " + opts_.bucket;
    TB_ASSIGN_OR_RETURN(http::Response created, Send(*client_, create));
    if (created.status == 200 || created.status == 409) return Status::Ok();  // 409: created meanwhile
    return HttpError(create.op, created);
  }
  Status s = HttpError(list.op, r);
  return Status(s.code() == StatusCode::kNotFound ? StatusCode::kFailedPrecondition : s.code(), s.message());
}

bool GcsStore::Impl::HoldsOurUpload(std::string_view key, const std::string& md5) {
  http::Request get;
  get.url = ObjectUrl(key) + "?fields=md5Hash";
  get.op = "GET metadata " + std::string(key);
  Result<http::Response> r = Send(*client_, get);
  return r.ok() && r->status == 200 && Md5Of(r->body) == md5;
}

Status GcsStore::Impl::PutMultipart(std::string_view key, std::string_view data, PutMode mode) {
  const std::string md5 = s3::Md5Base64(data);
  nlohmann::json metadata = {{"name", FullName(key)}, {"md5Hash", md5}, {"contentType", "application/octet-stream"}};
  std::string boundary = RandomBoundary();
  while (data.find(boundary) != std::string_view::npos) boundary = RandomBoundary();
  // multipart/related: the object's metadata as JSON, then its bytes (RFC 2387).
  std::string body;
  body.reserve(data.size() + 512);
  body += "--" + boundary + "\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n";
  body += metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  body += "\r\n--" + boundary + "\r\nContent-Type: application/octet-stream\r\n\r\n";
  body += data;
  body += "\r\n--" + boundary + "--\r\n";

  http::Request req;
  req.method = "POST";
  req.url = upload_url_ + "?uploadType=multipart&fields=" + Encode("name,md5Hash");
  if (mode == PutMode::kCreateOnly) req.url += "&ifGenerationMatch=0";
  req.headers = {"Content-Type: multipart/related; boundary=" + boundary};
  req.body = body;
  req.op = "PUT " + std::string(key);
  TB_ASSIGN_OR_RETURN(http::Response r, Send(*client_, req));
  if (r.status == 200) return Status::Ok();
  if (r.status == 412 && mode == PutMode::kCreateOnly) {
    return CreateOnlyRefusal(r.attempts, AlreadyExists(req.op), [&] { return HoldsOurUpload(key, md5); });
  }
  return HttpError(req.op, r);
}

Status GcsStore::Impl::PutResumable(std::string_view key, std::string_view data, PutMode mode) {
  const std::string md5 = s3::Md5Base64(data);
  const std::string op = "PUT " + std::string(key);
  const std::string total = std::to_string(data.size());
  nlohmann::json metadata = {{"name", FullName(key)}, {"md5Hash", md5}, {"contentType", "application/octet-stream"}};
  std::string metadata_json = metadata.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  http::Request start;
  start.method = "POST";
  start.url = upload_url_ + "?uploadType=resumable&fields=" + Encode("name,md5Hash");
  if (mode == PutMode::kCreateOnly) start.url += "&ifGenerationMatch=0";
  start.headers = {"Content-Type: application/json; charset=UTF-8", "X-Upload-Content-Type: application/octet-stream",
                   "X-Upload-Content-Length: " + total};
  start.body = metadata_json;
  start.op = op + " (start resumable upload)";
  TB_ASSIGN_OR_RETURN(http::Response started, Send(*client_, start));
  if (started.status == 412 && mode == PutMode::kCreateOnly) return AlreadyExists(op);
  if (started.status != 200) return HttpError(start.op, started);
  const std::string* location = started.Header("location");
  if (location == nullptr || location->empty()) return Status::Internal("gcs " + start.op + ": no session URI");
  const std::string session = *location;

  // The chunk loop: `offset` is what GCS holds. A chunk that fails transiently is not sent again
  // as it was; the store asks GCS for its persisted size (an empty PUT with "bytes */TOTAL") and
  // sends from there. It gives up after max_attempts failures without progress in between.
  uint64_t offset = 0;
  int failures = 0;
  bool query_status = false;
  for (;;) {
    http::Request chunk;
    chunk.method = "PUT";
    chunk.url = session;
    if (query_status) {
      chunk.headers = {"Content-Range: bytes */" + total};
      chunk.op = op + " (resumable upload status)";
    } else {
      uint64_t n = std::min<uint64_t>(opts_.chunk_size, data.size() - offset);
      chunk.body = data.substr(offset, n);
      chunk.headers = {"Content-Range: bytes " + std::to_string(offset) + "-" + std::to_string(offset + n - 1) + "/" +
                       total};
      chunk.op = op + " (bytes " + std::to_string(offset) + ".." + std::to_string(offset + n) + " of " + total + ")";
    }
    Result<http::Response> r = Send(*session_client_, chunk);
    Status failure;
    if (!r.ok()) {
      failure = r.status();
    } else if (r->status == 200 || r->status == 201) {
      // Finished. GCS compared the bytes with the MD5 of the metadata; so does this check.
      std::string stored = Md5Of(r->body);
      if (!stored.empty() && stored != md5) {
        return Status::DataLoss("gcs " + op + ": the stored object's MD5 differs from the bytes sent");
      }
      ++resumable_uploads_;
      return Status::Ok();
    } else if (r->status == 308) {
      TB_ASSIGN_OR_RETURN(uint64_t persisted, gcs::PersistedBytes(r->Header("range")));
      if (persisted > data.size()) return Status::Internal("gcs " + chunk.op + ": GCS holds more bytes than sent");
      if (query_status) ++resumes_;
      if (persisted > offset) failures = 0;  // progress: the failures so far are forgiven
      offset = persisted;
      query_status = false;
      continue;
    } else if (r->status == 412 && mode == PutMode::kCreateOnly) {
      return AlreadyExists(op);  // another writer created the object first
    } else if (http::RetryableHttpStatus(r->status)) {
      failure = HttpError(chunk.op, *r);
    } else {
      // Refused (404/410: the session is gone). The caller may start over with a new upload.
      Status s = HttpError(chunk.op, *r);
      if (r->status == 404 || r->status == 410) return Status::Unavailable(s.message() + " (upload session lost)");
      return s;
    }
    if (++failures >= opts_.http.retry.max_attempts || failure.code() == StatusCode::kFailedPrecondition) {
      return failure;
    }
    session_client_->WaitBeforeRetry(chunk.op, failures, failure);
    query_status = true;
  }
}

Result<ObjectInfo> GcsStore::Impl::HeadObject(std::string_view key) {
  http::Request req;
  req.url = ObjectUrl(key) + "?fields=size";
  req.op = "HEAD " + std::string(key);
  TB_ASSIGN_OR_RETURN(http::Response r, Send(*client_, req));
  if (r.status == 404) return Status::NotFound("gcs " + req.op + ": 404 no such object");
  if (r.status != 200) return HttpError(req.op, r);
  nlohmann::json doc = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::Internal("gcs " + req.op + ": unparsable answer " + http::Snippet(r.body));
  ObjectInfo info;
  info.key = std::string(key);
  TB_ASSIGN_OR_RETURN(info.size, ParseSize(req.op, doc));
  return info;
}

Result<std::string> GcsStore::Impl::GetObject(std::string_view key, uint64_t offset, uint64_t length) {
  http::RangedGet g;
  g.service = "gcs";
  g.op = "GET " + std::string(key);
  g.get = [&](const std::string& range) {
    http::Request req;
    req.url = ObjectUrl(key) + "?alt=media";
    req.op = g.op;
    if (!range.empty()) req.headers.push_back("Range: " + range);
    return Send(*client_, std::move(req));
  };
  g.size = [&]() -> Result<uint64_t> {
    TB_ASSIGN_OR_RETURN(ObjectInfo info, HeadObject(key));
    return info.size;
  };
  g.error = [&](const http::Response& r) {
    if (r.status == 404) return Status::NotFound("gcs " + g.op + ": 404 no such object");
    return HttpError(g.op, r);
  };
  return http::ReadRange(g, offset, length);
}

Result<ListPage> GcsStore::Impl::ListObjects(std::string_view prefix, std::string_view token, int max_keys) {
  if (max_keys < 1 || max_keys > 1000) return Status::InvalidArgument("gcs LIST: max_keys must be in 1..1000");
  http::Request req;
  req.op = "LIST " + std::string(prefix);
  req.url = bucket_url_ + "/o?maxResults=" + std::to_string(max_keys) +
            "&fields=" + Encode("items(name,size),nextPageToken") + "&prefix=" + Encode(FullName(prefix));
  if (!token.empty()) req.url += "&pageToken=" + Encode(token);
  TB_ASSIGN_OR_RETURN(http::Response r, Send(*client_, req));
  if (r.status == 404) {
    return Status::FailedPrecondition("gcs " + req.op + ": 404: the bucket " + opts_.bucket + " does not exist");
  }
  if (r.status != 200) return HttpError(req.op, r);
  nlohmann::json doc = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::Internal("gcs " + req.op + ": unparsable answer " + http::Snippet(r.body));
  ListPage page;
  if (auto items = doc.find("items"); items != doc.end() && items->is_array()) {
    page.objects.reserve(items->size());
    for (const nlohmann::json& item : *items) {
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string()) {
        return Status::Internal("gcs " + req.op + ": an item without a name");
      }
      ObjectInfo info;
      info.key = item["name"].get<std::string>();
      if (!info.key.starts_with(prefix_)) {
        return Status::Internal("gcs " + req.op + ": listed object \"" + info.key + "\" is outside the prefix");
      }
      info.key.erase(0, prefix_.size());
      TB_ASSIGN_OR_RETURN(info.size, ParseSize(req.op, item));
      page.objects.push_back(std::move(info));
    }
  }
  if (auto next = doc.find("nextPageToken"); next != doc.end() && next->is_string()) {
    page.next_token = next->get<std::string>();
  }
  return page;
}

Status GcsStore::Impl::DeleteObjects(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) TB_RETURN_IF_ERROR(CheckKey("DELETE", key));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mu;
  Status first_error;
  auto worker = [&] {
    for (size_t i; !failed && (i = next++) < keys.size();) {
      http::Request req;
      req.method = "DELETE";
      req.url = ObjectUrl(keys[i]);
      req.op = "DELETE " + keys[i];
      Result<http::Response> r = Send(*client_, req);
      Status s;
      if (!r.ok()) {
        s = r.status();
      } else if (r->status != 204 && r->status != 200 && r->status != 404) {  // 404: already gone
        s = HttpError(req.op, *r);
      }
      if (!s.ok()) {
        std::lock_guard lock(error_mu);
        if (first_error.ok()) first_error = s;
        failed = true;
      }
    }
  };
  size_t n_threads = std::min<size_t>(
      {keys.size(), static_cast<size_t>(opts_.delete_parallelism), static_cast<size_t>(opts_.http.max_connections)});
  std::vector<std::thread> threads;
  for (size_t t = 1; t < n_threads; ++t) threads.emplace_back(worker);
  if (n_threads > 0) worker();
  for (std::thread& t : threads) t.join();
  return first_error;
}

// ---------------------------------------------------------------------------------------------
// GcsStore
// ---------------------------------------------------------------------------------------------
Result<GcsOptions> GcsOptionsFromEnvironment(std::string bucket, std::string prefix, std::string endpoint) {
  GcsOptions o;
  o.bucket = std::move(bucket);
  o.prefix = std::move(prefix);
  const char* emulator = std::getenv("STORAGE_EMULATOR_HOST");
  if (!endpoint.empty()) {
    o.endpoint = std::move(endpoint);
  } else if (emulator != nullptr && *emulator != '\0') {
    o.endpoint = gcs::EmulatorEndpoint(emulator);
  }
  TB_ASSIGN_OR_RETURN(std::unique_ptr<gcs::TokenSource> source, gcs::TokenSourceFromEnvironment());
  if (source) o.credentials = std::make_shared<gcs::TokenCache>(std::move(source));
  return o;
}

GcsStore::GcsStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GcsStore::~GcsStore() = default;

Result<std::shared_ptr<GcsStore>> GcsStore::Open(GcsOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  TB_RETURN_IF_ERROR(impl->Init());
  TB_RETURN_IF_ERROR(impl->CheckBucket());
  return std::shared_ptr<GcsStore>(new GcsStore(std::move(impl)));
}

std::string GcsStore::Describe() const { return impl_->describe_; }

Status GcsStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("PUT", key));
  if (data.size() >= impl_->opts_.resumable_threshold) return impl_->PutResumable(key, data, mode);
  return impl_->PutMultipart(key, data, mode);
}

Result<std::string> GcsStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("GET", key));
  return impl_->GetObject(key, offset, length);
}

Result<ObjectInfo> GcsStore::Head(std::string_view key) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("HEAD", key));
  return impl_->HeadObject(key);
}

Result<ListPage> GcsStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  return impl_->ListObjects(prefix, token, max_keys);
}

Status GcsStore::Delete(const std::vector<std::string>& keys) { return impl_->DeleteObjects(keys); }

GcsStore::Stats GcsStore::GetStats() const {
  http::HttpClient::Stats a = impl_->client_->GetStats();
  http::HttpClient::Stats b = impl_->session_client_->GetStats();
  Stats s;
  s.requests = a.requests + b.requests;
  s.retries = a.retries + b.retries;
  s.resumable_uploads = impl_->resumable_uploads_;
  s.resumes = impl_->resumes_;
  return s;
}

}  // namespace tb::objstore
