// AzureStore implementation: the Blob service's REST API over the shared HTTP client, pugixml for
// its documents, OpenSSL's HMAC-SHA256 for SharedKey. docs/format/azure-store.md is the reference
// for the wire behaviour.
#include "objstore/azure_store.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <pugixml.hpp>
#include <random>

#include "objstore/s3_store.h"  // s3::UriEncode, UrlDecode, Md5Base64, Base64Encode: the same encodings serve Azure
#include "util/parallel.h"
#include "util/text.h"

namespace tb::objstore {
namespace {

// The REST API version every request asks for (x-ms-version): Content-Length is signed as "" when
// zero since 2015-02-21; blocks of up to 4000 MiB since 2019-12-12.
constexpr std::string_view kApiVersion = "2021-12-02";
constexpr uint64_t kMaxBlockSize = 4000ull << 20;
constexpr uint64_t kMaxBlocks = 50000;

// The value of the request's header `name` (case-insensitive), or "".
std::string HeaderValue(const http::Request& req, std::string_view name) {
  for (const std::string& h : req.headers) {
    if (h.size() > name.size() && h[name.size()] == ':' && strncasecmp(h.data(), name.data(), name.size()) == 0) {
      return std::string(TrimAsciiWhitespace(std::string_view(h).substr(name.size() + 1)));
    }
  }
  return {};
}

bool HasBody(const http::Request& req) {
  std::string_view m = req.method;
  return m == "PUT" || m == "POST";
}

// Percent-decoding of a query value or an encoded blob name, where '+' is itself ('+' never stands
// for a space in what Azure or this store writes).
Result<std::string> PercentDecode(std::string_view s) {
  std::string escaped;
  for (char c : s) escaped += c == '+' ? std::string("%2B") : std::string(1, c);
  return s3::UrlDecode(escaped);
}

// The answer's error code: the x-ms-error-code header (sent with every error, HEAD's included),
// else the <Code> of an <Error> body.
std::string ErrorCode(const http::Response& r) {
  if (const std::string* code = r.Header("x-ms-error-code")) return *code;
  pugi::xml_document doc;
  if (!doc.load_buffer(r.body.data(), r.body.size())) return {};
  return doc.child("Error").child("Code").text().as_string();
}

// The first line of the <Message> of an <Error> body (the others are a request id and a time).
std::string ErrorMessage(const http::Response& r) {
  pugi::xml_document doc;
  if (!doc.load_buffer(r.body.data(), r.body.size())) return {};
  std::string message = doc.child("Error").child("Message").text().as_string();
  return message.substr(0, message.find('\n'));
}

bool Transient(const http::Response& r, std::string_view code) {
  return http::RetryableHttpStatus(r.status) || code == "ServerBusy" || code == "OperationTimedOut" ||
         code == "InternalError";
}

// The Status of an answer that is an error (not 2xx). See docs/format/azure-store.md, "Errors".
Status HttpError(std::string_view op, const http::Response& r) {
  const std::string code = ErrorCode(r);
  const std::string message = ErrorMessage(r);
  std::string msg = "azure " + std::string(op) + ": " + std::to_string(r.status);
  if (!code.empty()) msg += " " + code;
  if (!message.empty()) {
    msg += ": " + message;
  } else if (code.empty() && !r.body.empty()) {
    msg += ": " + http::Snippet(r.body);
  }
  msg += http::AttemptsSuffix(r.attempts);
  if (r.status == 404) {
    return code == "ContainerNotFound" ? Status::FailedPrecondition(msg) : Status::NotFound(msg);
  }
  if (Transient(r, code)) return Status::Unavailable(msg);
  if (r.status == 401 || r.status == 403 || r.status == 409 || r.status == 412) return Status::FailedPrecondition(msg);
  if (r.status == 400 || r.status == 411 || r.status == 413 || r.status == 416) return Status::InvalidArgument(msg);
  if (r.status == 501) return Status::Unimplemented(msg);
  return Status::Internal(msg);
}

Result<uint64_t> ParseCount(std::string_view what, std::string_view text) {
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Status::Internal("azure: bad " + std::string(what) + " \"" + std::string(text) + "\"");
  }
  return n;
}

std::string RandomTag() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string tag;
  for (int i = 0; i < 16; ++i) tag.push_back(kHex[rng() & 15]);
  return tag;
}

// Container names: 3-63 of [a-z0-9-], starting and ending with a letter or digit, no "--".
bool ValidContainer(std::string_view name) {
  if (name.size() < 3 || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  if (name.find("--") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Helpers (namespace azure, declared in the header for tests)
// ---------------------------------------------------------------------------------------------
namespace azure {

std::string StringToSign(const http::Request& req, std::string_view account) {
  // Content-Length and Content-Type as HttpClient sends them: the body's size for PUT and POST
  // ("" when zero), and application/octet-stream when the request names no type.
  std::string length = HasBody(req) && !req.body.empty() ? std::to_string(req.body.size()) : "";
  std::string type = HeaderValue(req, "Content-Type");
  if (type.empty() && HasBody(req)) type = "application/octet-stream";
  std::string s = std::string(req.method) + "\n";
  for (std::string_view name : {"Content-Encoding", "Content-Language"}) s += HeaderValue(req, name) + "\n";
  s += length + "\n";
  s += HeaderValue(req, "Content-MD5") + "\n";
  s += type + "\n";
  for (std::string_view name :
       {"Date", "If-Modified-Since", "If-Match", "If-None-Match", "If-Unmodified-Since", "Range"}) {
    s += HeaderValue(req, name) + "\n";
  }
  // Canonicalized headers: every x-ms-* header, lower-case names in order, "name:value\n".
  std::map<std::string, std::string> ms;
  for (const std::string& h : req.headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string name = AsciiLowercase(TrimAsciiWhitespace(std::string_view(h).substr(0, colon)));
    if (name.starts_with("x-ms-")) ms[name] = TrimAsciiWhitespace(std::string_view(h).substr(colon + 1));
  }
  for (const auto& [name, value] : ms) s += name + ":" + value + "\n";
  // Canonicalized resource: "/account" + the URL's path as sent, then each query parameter as
  // "\nname:value" (names lower-case and in order, values decoded, repeated names joined by ',').
  std::string_view url = req.url;
  size_t scheme = url.find("://");
  size_t path_at = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  std::string_view path = path_at == std::string_view::npos ? "/" : url.substr(path_at);
  std::string_view query;
  if (size_t q = path.find('?'); q != std::string_view::npos) {
    query = path.substr(q + 1);
    path = path.substr(0, q);
  }
  s += "/" + std::string(account) + std::string(path.empty() ? "/" : path);
  std::map<std::string, std::vector<std::string>> params;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    Result<std::string> name = PercentDecode(pair.substr(0, eq));
    Result<std::string> value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    params[AsciiLowercase(name.ok() ? *name : pair.substr(0, eq))].push_back(value.ok() ? *value : std::string());
  }
  for (auto& [name, values] : params) {
    std::sort(values.begin(), values.end());
    s += "\n" + name + ":";
    for (size_t i = 0; i < values.size(); ++i) s += (i ? "," : "") + values[i];
  }
  return s;
}

Status SignSharedKey(http::Request& request, std::string_view account, std::string_view base64_key) {
  TB_ASSIGN_OR_RETURN(std::string key, Base64Decode(base64_key));
  const std::string to_sign = StringToSign(request, account);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(to_sign.data()), to_sign.size(), mac, &mac_len) == nullptr) {
    return Status::Internal("azure: HMAC-SHA256 failed");
  }
  request.headers.push_back("Authorization: SharedKey " + std::string(account) + ":" +
                            s3::Base64Encode(std::string_view(reinterpret_cast<const char*>(mac), mac_len)));
  return Status::Ok();
}

std::string HttpDate(std::chrono::system_clock::time_point t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

Result<std::string> Base64Decode(std::string_view text) {
  auto bad = [] { return Status::InvalidArgument("azure: the account key is not base64"); };
  if (text.empty() || text.size() % 4 != 0) return bad();
  size_t padding = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
    if (c == '=' && i + 2 >= text.size() && (i + 1 == text.size() || text[i + 1] == '=')) {
      ++padding;
      ok = true;
    }
    if (!ok) return bad();
  }
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) < padding) return bad();
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

Result<ConnectionString> ParseConnectionString(std::string_view text) {
  ConnectionString cs;
  std::string protocol = "https", suffix = "core.windows.net";
  while (!text.empty()) {
    size_t semi = text.find(';');
    std::string_view part = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    if (TrimAsciiWhitespace(part).empty()) continue;
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument("azure: connection string part \"" + std::string(part.substr(0, 40)) +
                                     "\" is not Key=Value");
    }
    const std::string key = AsciiLowercase(TrimAsciiWhitespace(part.substr(0, eq)));
    std::string value(TrimAsciiWhitespace(part.substr(eq + 1)));
    if (key == "accountname") cs.account = value;
    if (key == "accountkey") cs.account_key = value;
    if (key == "sharedaccesssignature") cs.sas_token = value;
    if (key == "blobendpoint") cs.blob_endpoint = value;
    if (key == "defaultendpointsprotocol") protocol = value;
    if (key == "endpointsuffix") suffix = value;
  }
  if (cs.blob_endpoint.empty()) {
    if (cs.account.empty()) return Status::InvalidArgument("azure: the connection string names no AccountName");
    cs.blob_endpoint = protocol + "://" + cs.account + ".blob." + suffix;
  }
  if (cs.account_key.empty() && cs.sas_token.empty()) {
    return Status::InvalidArgument("azure: the connection string has neither AccountKey nor SharedAccessSignature");
  }
  if (!cs.account_key.empty() && cs.account.empty()) {
    return Status::InvalidArgument("azure: the connection string has an AccountKey but no AccountName");
  }
  return cs;
}

std::string BlockId(std::string_view tag, size_t index) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%06zu", index);
  return s3::Base64Encode(std::string(tag) + "-" + digits);
}

std::string BlockListXml(const std::vector<std::string>& ids) {
  std::string xml = R"(<?xml version="1.0" encoding="utf-8"?><BlockList>)";
  for (const std::string& id : ids) xml += "<Latest>" + s3::XmlEscape(id) + "</Latest>";
  return xml + "</BlockList>";
}

Result<ListResult> ParseListBlobs(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) {
    return Status::Internal("azure: unparsable List Blobs answer: " + http::Snippet(xml));
  }
  pugi::xml_node root = doc.child("EnumerationResults");
  if (!root) return Status::Internal("azure: List Blobs answer without EnumerationResults");
  ListResult result;
  for (pugi::xml_node blob : root.child("Blobs").children("Blob")) {
    pugi::xml_node name = blob.child("Name");
    ObjectInfo info;
    info.key = name.text().as_string();
    if (name.attribute("Encoded").as_bool()) {  // names with characters XML cannot carry come %-encoded
      TB_ASSIGN_OR_RETURN(info.key, PercentDecode(info.key));
    }
    TB_ASSIGN_OR_RETURN(
        info.size, ParseCount("Content-Length", blob.child("Properties").child("Content-Length").text().as_string()));
    result.objects.push_back(std::move(info));
  }
  result.next_marker = root.child("NextMarker").text().as_string();
  return result;
}

}  // namespace azure

// ---------------------------------------------------------------------------------------------
// AzureStore::Impl
// ---------------------------------------------------------------------------------------------
class AzureStore::Impl {
 public:
  explicit Impl(AzureOptions o) : opts_(std::move(o)) {}

  Status Init();
  Status CheckContainer();
  Status PutBlob(std::string_view key, std::string_view data, PutMode mode);
  Status PutBlocks(std::string_view key, std::string_view data, PutMode mode);
  Result<ObjectInfo> HeadBlob(std::string_view key);
  Result<std::string> GetBlob(std::string_view key, uint64_t offset, uint64_t length);
  Result<ListPage> ListBlobs(std::string_view prefix, std::string_view token, int max_keys);
  Status DeleteBlobs(const std::vector<std::string>& keys);

  Status CheckKey(std::string_view op, std::string_view key) const {
    TB_RETURN_IF_ERROR(CheckCloudKey("azure", op, prefix_, key));
    // Azure turns '\' into '/' in blob names: such a key would be listed as another one.
    if (key.find('\\') != std::string_view::npos) {
      return Status::InvalidArgument("azure " + std::string(op) + ": key \"" + std::string(key) +
                                     "\" holds '\\', which Azure stores as '/'");
    }
    return Status::Ok();
  }

  AzureOptions opts_;
  std::string describe_;
  std::string prefix_;         // "" or ends with '/'
  std::string container_url_;  // <endpoint>/<container>
  std::string sas_;            // without '?'
  std::unique_ptr<http::HttpClient> client_;
  std::atomic<uint64_t> block_uploads_{0};

  // Adds x-ms-version and x-ms-date, signs (or appends the SAS token), and sends `req` under the
  // retry policy with Azure's classifier.
  Result<http::Response> Send(http::Request req);

 private:
  std::string BlobUrl(std::string_view key) const {
    return container_url_ + "/" + s3::UriEncode(prefix_ + std::string(key), /*keep_slash=*/true);
  }
  // The answer of a create-only write that Azure refused because the blob exists (409/412). After
  // a retried request that is our own earlier attempt when the blob holds our bytes (its
  // Content-MD5): its answer was lost.
  Status CreateOnlyRefused(std::string_view op, std::string_view key, const http::Response& r, const std::string& md5);
};

Status AzureStore::Impl::Init() {
  AzureOptions& o = opts_;
  if (!ValidContainer(o.container)) {
    return Status::InvalidArgument("azure: bad container name \"" + o.container +
                                   "\" (3-63 of a-z, 0-9 and '-', no leading, trailing or double '-')");
  }
  if (!o.prefix.empty() && o.prefix.front() == '/')
    return Status::InvalidArgument("azure: prefix must not start with '/'");
  if (o.account_key.empty() == o.sas_token.empty()) {
    return Status::InvalidArgument("azure: give exactly one of an account key and a SAS token");
  }
  if (!o.account_key.empty()) {
    if (o.account.empty()) return Status::InvalidArgument("azure: an account key needs the account name");
    TB_RETURN_IF_ERROR(azure::Base64Decode(o.account_key).status());
  }
  if (o.block_threshold < 1) return Status::InvalidArgument("azure: block_threshold must be >= 1");
  if (o.block_size < 1 || o.block_size > kMaxBlockSize) {
    return Status::InvalidArgument("azure: block_size must be 1 byte to 4000 MiB");
  }
  if (o.upload_parallelism < 1 || o.delete_parallelism < 1) {
    return Status::InvalidArgument("azure: upload_parallelism and delete_parallelism must be >= 1");
  }
  std::string endpoint = o.endpoint;
  if (endpoint.empty()) {
    if (o.account.empty()) return Status::InvalidArgument("azure: no endpoint and no account to derive it from");
    endpoint = "https://" + o.account + ".blob.core.windows.net";
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return Status::InvalidArgument("azure: endpoint must start with http:// or https://: \"" + o.endpoint + "\"");
  }
  container_url_ = endpoint + "/" + o.container;
  sas_ = o.sas_token;
  if (!sas_.empty() && sas_.front() == '?') sas_.erase(0, 1);
  prefix_ = o.prefix;
  if (!prefix_.empty() && prefix_.back() != '/') prefix_.push_back('/');
  describe_ = "azblob://" + o.container + (prefix_.empty() ? "" : "/" + prefix_.substr(0, prefix_.size() - 1));
  o.http.service = "azure";
  TB_ASSIGN_OR_RETURN(client_, http::HttpClient::Create(o.http));
  return Status::Ok();
}

Result<http::Response> AzureStore::Impl::Send(http::Request req) {
  req.headers.push_back("x-ms-version: " + std::string(kApiVersion));
  req.headers.push_back("x-ms-date: " + azure::HttpDate(std::chrono::system_clock::now()));
  if (!sas_.empty()) {
    req.url += (req.url.find('?') == std::string::npos ? "?" : "&") + sas_;
  } else {
    TB_RETURN_IF_ERROR(azure::SignSharedKey(req, opts_.account, opts_.account_key));
  }
  const std::string& op = req.op;
  return client_->Call(
      req, [&op](http::Response& r) { return Transient(r, ErrorCode(r)) ? HttpError(op, r) : Status::Ok(); });
}

Status AzureStore::Impl::CheckContainer() {
  http::Request list;
  list.url = container_url_ + "?restype=container&comp=list&maxresults=1&prefix=" + s3::UriEncode(prefix_, false);
  list.op = "LIST " + describe_;
  TB_ASSIGN_OR_RETURN(http::Response r, Send(list));
  if (r.status == 200) return Status::Ok();
  if (r.status == 404 && opts_.create_container) {
    http::Request create;
    create.method = "PUT";
    create.url = container_url_ + "?restype=container";
    create.op = "CREATE container " + opts_.container;
    TB_ASSIGN_OR_RETURN(http::Response created, Send(create));
    if (created.status == 201 || created.status == 409) return Status::Ok();  // 409: created meanwhile
    return HttpError(create.op, created);
  }
  Status s = HttpError(list.op, r);
  if (r.status == 404) {
    return Status::FailedPrecondition("azure " + list.op + ": 404: the container does not exist at " + container_url_);
  }
  return s;
}

Status AzureStore::Impl::CreateOnlyRefused(std::string_view op, std::string_view key, const http::Response& r,
                                           const std::string& md5) {
  return CreateOnlyRefusal(r.attempts,
                           Status::AlreadyExists("azure " + std::string(op) + ": the blob already exists (" +
                                                 std::to_string(r.status) + " " + ErrorCode(r) + ")"),
                           [&] {
                             http::Request req;
                             req.method = "HEAD";
                             req.url = BlobUrl(key);
                             req.op = "HEAD " + std::string(key);
                             Result<http::Response> head = Send(std::move(req));
                             const std::string* stored =
                                 head.ok() && head->status == 200 ? head->Header("content-md5") : nullptr;
                             return stored != nullptr && *stored == md5;
                           });
}

Status AzureStore::Impl::PutBlob(std::string_view key, std::string_view data, PutMode mode) {
  const std::string md5 = s3::Md5Base64(data);
  http::Request req;
  req.method = "PUT";
  req.url = BlobUrl(key);
  req.headers = {"Content-Type: application/octet-stream", "Content-MD5: " + md5, "x-ms-blob-type: BlockBlob"};
  if (mode == PutMode::kCreateOnly) req.headers.push_back("If-None-Match: *");
  req.body = data;
  req.op = "PUT " + std::string(key);
  TB_ASSIGN_OR_RETURN(http::Response r, Send(req));
  if (r.status == 201) return Status::Ok();
  if ((r.status == 409 || r.status == 412) && mode == PutMode::kCreateOnly)
    return CreateOnlyRefused(req.op, key, r, md5);
  return HttpError(req.op, r);
}

Status AzureStore::Impl::PutBlocks(std::string_view key, std::string_view data, PutMode mode) {
  const std::string op = "PUT " + std::string(key);
  const std::string md5 = s3::Md5Base64(data);
  const uint64_t block_size = std::max(opts_.block_size, (data.size() + kMaxBlocks - 1) / kMaxBlocks);
  const size_t n = static_cast<size_t>((data.size() + block_size - 1) / block_size);
  // A tag of this upload's own: blocks staged under one blob name by racing writers never mix.
  const std::string tag = RandomTag();
  std::vector<std::string> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = azure::BlockId(tag, i);
  TB_RETURN_IF_ERROR(ParallelFor(n, static_cast<size_t>(opts_.upload_parallelism), [&](size_t i) -> Status {
    std::string_view block = data.substr(i * block_size, block_size);
    http::Request req;
    req.method = "PUT";
    req.url = BlobUrl(key) + "?comp=block&blockid=" + s3::UriEncode(ids[i], false);
    req.headers = {"Content-Type: application/octet-stream", "Content-MD5: " + s3::Md5Base64(block)};
    req.body = block;
    req.op = op + " (block " + std::to_string(i + 1) + " of " + std::to_string(n) + ")";
    TB_ASSIGN_OR_RETURN(http::Response r, Send(std::move(req)));
    if (r.status == 201) return Status::Ok();
    return HttpError(op + " (block " + std::to_string(i + 1) + ")", r);
  }));
  const std::string list = azure::BlockListXml(ids);
  http::Request commit;
  commit.method = "PUT";
  commit.url = BlobUrl(key) + "?comp=blocklist";
  commit.headers = {"Content-Type: application/xml", "x-ms-blob-content-type: application/octet-stream",
                    "x-ms-blob-content-md5: " + md5};
  if (mode == PutMode::kCreateOnly) commit.headers.push_back("If-None-Match: *");
  commit.body = list;
  commit.op = op + " (block list)";
  TB_ASSIGN_OR_RETURN(http::Response r, Send(commit));
  if (r.status == 201) {
    ++block_uploads_;
    return Status::Ok();
  }
  if ((r.status == 409 || r.status == 412) && mode == PutMode::kCreateOnly) return CreateOnlyRefused(op, key, r, md5);
  return HttpError(commit.op, r);
}

Result<ObjectInfo> AzureStore::Impl::HeadBlob(std::string_view key) {
  http::Request req;
  req.method = "HEAD";
  req.url = BlobUrl(key);
  req.op = "HEAD " + std::string(key);
  TB_ASSIGN_OR_RETURN(http::Response r, Send(req));
  if (r.status != 200) return HttpError(req.op, r);
  const std::string* length = r.Header("content-length");
  if (length == nullptr) return Status::Internal("azure " + req.op + ": no Content-Length");
  ObjectInfo info;
  info.key = std::string(key);
  TB_ASSIGN_OR_RETURN(info.size, ParseCount("Content-Length", *length));
  return info;
}

Result<std::string> AzureStore::Impl::GetBlob(std::string_view key, uint64_t offset, uint64_t length) {
  http::RangedGet g;
  g.service = "azure";
  g.op = "GET " + std::string(key);
  g.get = [&](const std::string& range) {
    http::Request req;
    req.url = BlobUrl(key);
    req.op = g.op;
    if (!range.empty()) req.headers.push_back("x-ms-range: " + range);
    return Send(std::move(req));
  };
  g.size = [&]() -> Result<uint64_t> {
    TB_ASSIGN_OR_RETURN(ObjectInfo info, HeadBlob(key));
    return info.size;
  };
  g.error = [&](const http::Response& r) { return HttpError(g.op, r); };
  return http::ReadRange(g, offset, length);
}

Result<ListPage> AzureStore::Impl::ListBlobs(std::string_view prefix, std::string_view token, int max_keys) {
  if (max_keys < 1 || max_keys > 1000) return Status::InvalidArgument("azure LIST: max_keys must be in 1..1000");
  http::Request req;
  req.op = "LIST " + std::string(prefix);
  req.url = container_url_ + "?restype=container&comp=list&maxresults=" + std::to_string(max_keys) +
            "&prefix=" + s3::UriEncode(prefix_ + std::string(prefix), false);
  if (!token.empty()) req.url += "&marker=" + s3::UriEncode(token, false);
  TB_ASSIGN_OR_RETURN(http::Response r, Send(req));
  if (r.status != 200) return HttpError(req.op, r);
  TB_ASSIGN_OR_RETURN(azure::ListResult listed, azure::ParseListBlobs(r.body));
  ListPage page;
  page.objects.reserve(listed.objects.size());
  for (ObjectInfo& info : listed.objects) {
    if (!info.key.starts_with(prefix_)) {
      return Status::Internal("azure " + req.op + ": listed blob \"" + info.key + "\" is outside the prefix");
    }
    info.key.erase(0, prefix_.size());
    page.objects.push_back(std::move(info));
  }
  page.next_token = std::move(listed.next_marker);
  return page;
}

Status AzureStore::Impl::DeleteBlobs(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) TB_RETURN_IF_ERROR(CheckKey("DELETE", key));
  size_t parallel = static_cast<size_t>(std::min(opts_.delete_parallelism, opts_.http.max_connections));
  return ParallelFor(keys.size(), parallel, [&](size_t i) -> Status {
    http::Request req;
    req.method = "DELETE";
    req.url = BlobUrl(keys[i]);
    req.op = "DELETE " + keys[i];
    TB_ASSIGN_OR_RETURN(http::Response r, Send(req));
    if (r.status == 202 || r.status == 200 || r.status == 404) return Status::Ok();  // 404: already gone
    return HttpError(req.op, r);
  });
}

// ---------------------------------------------------------------------------------------------
// AzureStore
// ---------------------------------------------------------------------------------------------
Result<AzureOptions> AzureOptionsFromEnvironment(std::string container, std::string prefix, std::string endpoint) {
  auto env = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v != nullptr ? v : "";
  };
  AzureOptions o;
  o.container = std::move(container);
  o.prefix = std::move(prefix);
  if (std::string text = env("AZURE_STORAGE_CONNECTION_STRING"); !text.empty()) {
    TB_ASSIGN_OR_RETURN(azure::ConnectionString cs, azure::ParseConnectionString(text));
    o.account = cs.account;
    o.account_key = cs.account_key;
    o.sas_token = cs.account_key.empty() ? cs.sas_token : "";
    o.endpoint = cs.blob_endpoint;
    o.credentials_source = "AZURE_STORAGE_CONNECTION_STRING (" +
                           std::string(o.account_key.empty() ? "SAS token" : "shared key of " + o.account) + ")";
  } else {
    o.account = env("AZURE_STORAGE_ACCOUNT");
    o.account_key = env("AZURE_STORAGE_KEY");
    if (!o.account_key.empty()) {
      if (o.account.empty())
        return Status::InvalidArgument("azure: AZURE_STORAGE_KEY is set but AZURE_STORAGE_ACCOUNT is not");
      o.credentials_source = "AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (shared key of " + o.account + ")";
    } else if (o.sas_token = env("AZURE_STORAGE_SAS_TOKEN"); !o.sas_token.empty()) {
      o.credentials_source = "AZURE_STORAGE_SAS_TOKEN";
    } else {
      return Status::InvalidArgument(
          "azure: no credentials: set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with "
          "AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN");
    }
  }
  if (!endpoint.empty()) o.endpoint = std::move(endpoint);
  if (o.endpoint.empty() && o.account.empty()) {
    return Status::InvalidArgument("azure: a SAS token needs AZURE_STORAGE_ACCOUNT or an endpoint (--azure-endpoint)");
  }
  return o;
}

AzureStore::AzureStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AzureStore::~AzureStore() = default;

Result<std::shared_ptr<AzureStore>> AzureStore::Open(AzureOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  TB_RETURN_IF_ERROR(impl->Init());
  TB_RETURN_IF_ERROR(impl->CheckContainer());
  return std::shared_ptr<AzureStore>(new AzureStore(std::move(impl)));
}

std::string AzureStore::Describe() const { return impl_->describe_; }

Status AzureStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("PUT", key));
  if (data.size() >= impl_->opts_.block_threshold) return impl_->PutBlocks(key, data, mode);
  return impl_->PutBlob(key, data, mode);
}

Result<std::string> AzureStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("GET", key));
  return impl_->GetBlob(key, offset, length);
}

Result<ObjectInfo> AzureStore::Head(std::string_view key) {
  TB_RETURN_IF_ERROR(impl_->CheckKey("HEAD", key));
  return impl_->HeadBlob(key);
}

Result<ListPage> AzureStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  return impl_->ListBlobs(prefix, token, max_keys);
}

Status AzureStore::Delete(const std::vector<std::string>& keys) { return impl_->DeleteBlobs(keys); }

Status AzureStore::DeleteContainerForTest() {
  http::Request req;
  req.method = "DELETE";
  req.url = impl_->container_url_ + "?restype=container";
  req.op = "DELETE container " + impl_->opts_.container;
  TB_ASSIGN_OR_RETURN(http::Response r, impl_->Send(req));
  if (r.status == 202 || r.status == 404) return Status::Ok();
  return HttpError(req.op, r);
}

AzureStore::Stats AzureStore::GetStats() const {
  http::HttpClient::Stats c = impl_->client_->GetStats();
  Stats s;
  s.requests = c.requests;
  s.retries = c.retries;
  s.block_uploads = impl_->block_uploads_;
  return s;
}

}  // namespace tb::objstore
