// GCS credentials: the JWT-bearer grant (RS256 with OpenSSL's EVP), the metadata server, and the
// token cache. docs/format/gcs-store.md, "Credentials", is the reference.
#include "objstore/gcs_auth.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tb::objstore::gcs {
namespace {

using std::chrono::seconds;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr std::string_view kDefaultTokenUri = "https://oauth2.googleapis.com/token";
constexpr std::string_view kDefaultMetadataHost = "metadata.google.internal";
constexpr std::string_view kMetadataTokenPath = "/computeMetadata/v1/instance/service-accounts/default/token";
constexpr seconds kAssertionLifetime{3600};  // the longest Google accepts
constexpr seconds kRefreshAhead{300};
constexpr seconds kRetryAfterFailedRefresh{5};
// A token this close to its expiry is not sent any more: the request could arrive after it.
constexpr seconds kExpirySafety{10};

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The RSA private key of a PEM text (PKCS#8 "PRIVATE KEY", as in Google's key files, or PKCS#1).
Pkey ReadPrivateKey(std::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return nullptr;
  Pkey key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (key && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return nullptr;
  return key;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read the file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// application/x-www-form-urlencoded value: unreserved bytes as they are, every other one %XX.
std::string FormEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// An issuer's refusal: "400 invalid_grant: Invalid JWT Signature." from an OAuth 2.0 error body
// ({"error": "...", "error_description": "..."}), or the status and a snippet of the body.
std::string RefusalOf(const http::Response& r) {
  std::string msg = std::to_string(r.status);
  nlohmann::json doc = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
    msg += " " + doc["error"].get<std::string>();
    if (doc.contains("error_description") && doc["error_description"].is_string()) {
      msg += ": " + doc["error_description"].get<std::string>();
    }
  } else if (!r.body.empty()) {
    msg += ": " + http::Snippet(r.body);
  }
  return msg + http::AttemptsSuffix(r.attempts);
}

// Maps a token request's final answer: 200 is parsed, a refusal is permanent (the key, the
// account or the request is wrong; retrying cannot help).
Result<FetchedToken> TokenFromResponse(std::string_view issuer, Result<http::Response> r) {
  if (!r.ok()) return r.status().WithContext("gcs auth: " + std::string(issuer));
  if (r->status != 200) {
    return Status::FailedPrecondition("gcs auth: " + std::string(issuer) +
                                      " refused the token request: " + RefusalOf(*r));
  }
  return ParseTokenResponse(issuer, r->body);
}

}  // namespace

http::ClientOptions DefaultTokenClientOptions() {
  http::ClientOptions o;
  o.service = "gcs auth";
  o.max_connections = 4;
  o.connect_timeout = std::chrono::milliseconds(3000);
  o.request_timeout = std::chrono::milliseconds(30000);
  o.retry.max_attempts = 4;
  return o;
}

std::string Base64UrlEncode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (size_t rest = bytes.size() - i; rest > 0) {
    uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    if (rest == 2) out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

Result<ServiceAccountKey> ParseServiceAccountKey(std::string_view json) {
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return Status::InvalidArgument("not a JSON object");
  auto field = [&](const char* name) -> std::string {
    auto it = doc.find(name);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string type = field("type");
  if (type != "service_account") {
    return Status::InvalidArgument("\"type\" is \"" + type +
                                   "\", not \"service_account\" (only service-account keys are supported)");
  }
  ServiceAccountKey key;
  key.client_email = field("client_email");
  key.private_key_id = field("private_key_id");
  key.private_key_pem = field("private_key");
  key.token_uri = field("token_uri");
  if (key.token_uri.empty()) key.token_uri = kDefaultTokenUri;
  if (key.client_email.empty()) return Status::InvalidArgument("no \"client_email\"");
  if (key.private_key_pem.empty()) return Status::InvalidArgument("no \"private_key\"");
  if (!key.token_uri.starts_with("https://") && !key.token_uri.starts_with("http://")) {
    return Status::InvalidArgument("\"token_uri\" is not an http(s) URL");
  }
  if (!ReadPrivateKey(key.private_key_pem)) {
    return Status::InvalidArgument("\"private_key\" is not a PEM RSA private key");
  }
  return key;
}

Result<std::string> SignJwtAssertion(const ServiceAccountKey& key, std::string_view scope,
                                     std::chrono::system_clock::time_point now) {
  int64_t iat = std::chrono::duration_cast<seconds>(now.time_since_epoch()).count();
  nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key.private_key_id.empty()) header["kid"] = key.private_key_id;
  nlohmann::json claims = {{"iss", key.client_email},
                           {"scope", scope},
                           {"aud", key.token_uri},
                           {"iat", iat},
                           {"exp", iat + kAssertionLifetime.count()}};
  std::string signing_input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());

  Pkey pkey = ReadPrivateKey(key.private_key_pem);
  if (!pkey) return Status::InvalidArgument("gcs auth: the private key is not a PEM RSA private key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return Status::ResourceExhausted("gcs auth: EVP_MD_CTX_new failed");
  std::string signature;
  size_t length = 0;
  bool ok = EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey.get()) == 1 &&
            EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(signing_input.data()),
                           signing_input.size()) == 1;
  if (ok) {
    signature.resize(length);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                        reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1;
    signature.resize(length);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return Status::Internal("gcs auth: RS256 signing failed");
  return signing_input + "." + Base64UrlEncode(signature);
}

Result<FetchedToken> ParseTokenResponse(std::string_view issuer, std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](std::string_view why) {
    return Status::Internal("gcs auth: " + std::string(issuer) + " answered no usable token (" + std::string(why) +
                            ")");
  };
  if (!doc.is_object()) return bad("not a JSON object");
  auto token = doc.find("access_token");
  if (token == doc.end() || !token->is_string() || token->get<std::string>().empty()) return bad("no access_token");
  auto expires = doc.find("expires_in");
  if (expires == doc.end() || !expires->is_number() || expires->get<double>() <= 0) return bad("no expires_in");
  FetchedToken out;
  out.token = token->get<std::string>();
  out.lifetime = seconds(static_cast<int64_t>(expires->get<double>()));
  if (out.lifetime.count() <= 0) return bad("expires_in below one second");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Service account
// ---------------------------------------------------------------------------------------------
ServiceAccountTokenSource::ServiceAccountTokenSource(ServiceAccountKey key, std::string origin,
                                                     std::unique_ptr<http::HttpClient> client)
    : key_(std::move(key)), origin_(std::move(origin)), client_(std::move(client)) {}

Result<std::unique_ptr<ServiceAccountTokenSource>> ServiceAccountTokenSource::FromKeyFile(const std::string& path,
                                                                                          http::ClientOptions client) {
  TB_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  Result<ServiceAccountKey> key = ParseServiceAccountKey(text);
  if (!key.ok()) return key.status().WithContext("gcs auth: service-account key file " + path);
  return FromKey(std::move(key).value(), "key file " + path, std::move(client));
}

Result<std::unique_ptr<ServiceAccountTokenSource>> ServiceAccountTokenSource::FromKey(ServiceAccountKey key,
                                                                                      std::string origin,
                                                                                      http::ClientOptions client) {
  TB_ASSIGN_OR_RETURN(std::unique_ptr<http::HttpClient> http, http::HttpClient::Create(std::move(client)));
  return std::unique_ptr<ServiceAccountTokenSource>(
      new ServiceAccountTokenSource(std::move(key), std::move(origin), std::move(http)));
}

std::string ServiceAccountTokenSource::Describe() const {
  return "service account " + key_.client_email + " (" + origin_ + ")";
}

Result<FetchedToken> ServiceAccountTokenSource::Fetch() {
  TB_ASSIGN_OR_RETURN(std::string assertion, SignJwtAssertion(key_, kStorageScope, std::chrono::system_clock::now()));
  std::string body =
      "grant_type=" + FormEncode("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=" + FormEncode(assertion);
  http::Request req;
  req.method = "POST";
  req.url = key_.token_uri;
  req.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  req.body = body;
  req.op = "POST " + key_.token_uri;
  return TokenFromResponse("token endpoint " + key_.token_uri, client_->Call(req));
}

// ---------------------------------------------------------------------------------------------
// Metadata server
// ---------------------------------------------------------------------------------------------
MetadataServerTokenSource::MetadataServerTokenSource(std::string url, std::unique_ptr<http::HttpClient> client)
    : url_(std::move(url)), client_(std::move(client)) {}

Result<std::unique_ptr<MetadataServerTokenSource>> MetadataServerTokenSource::Create(std::string host,
                                                                                     http::ClientOptions client) {
  if (host.empty()) host = Env("GCE_METADATA_HOST");
  if (host.empty()) host = kDefaultMetadataHost;
  if (host.find_first_of("/?#@ ") != std::string::npos) {
    return Status::InvalidArgument("gcs auth: metadata host \"" + host + "\" is not HOST[:PORT]");
  }
  if (client.service.empty()) client = DefaultTokenClientOptions();
  TB_ASSIGN_OR_RETURN(std::unique_ptr<http::HttpClient> http, http::HttpClient::Create(std::move(client)));
  // The metadata server speaks plain HTTP on the instance's link-local address.
  return std::unique_ptr<MetadataServerTokenSource>(
      new MetadataServerTokenSource("http://" + host + std::string(kMetadataTokenPath), std::move(http)));
}

std::string MetadataServerTokenSource::Describe() const { return "metadata server " + url_; }

Result<FetchedToken> MetadataServerTokenSource::Fetch() {
  http::Request req;
  req.method = "GET";
  req.url = url_;
  req.headers = {"Metadata-Flavor: Google"};
  req.op = "GET " + url_;
  Result<FetchedToken> token = TokenFromResponse("metadata server " + url_, client_->Call(req));
  if (token.status().code() == StatusCode::kUnavailable) {
    return Status::Unavailable(token.status().message() +
                               " (outside GCE/GKE, set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file)");
  }
  return token;
}

// ---------------------------------------------------------------------------------------------
// TokenCache
// ---------------------------------------------------------------------------------------------
TokenCache::TokenCache(std::unique_ptr<TokenSource> source, Clock clock)
    : source_(std::move(source)), clock_(clock ? std::move(clock) : Clock(&std::chrono::steady_clock::now)) {}

Result<std::string> TokenCache::Token() {
  std::unique_lock lock(mu_);
  for (;;) {
    SteadyTime now = clock_();
    if (!token_.empty() && now < refresh_at_) return token_;
    bool usable = !token_.empty() && now + kExpirySafety < expires_at_;
    if (refreshing_) {
      if (usable) return token_;
      refreshed_.wait(lock);
      continue;
    }
    if (usable && now < retry_after_) return token_;
    refreshing_ = true;
    lock.unlock();
    Result<FetchedToken> fetched = source_->Fetch();
    lock.lock();
    refreshing_ = false;
    refreshed_.notify_all();
    now = clock_();
    if (fetched.ok()) {
      ++fetches_;
      token_ = std::move(fetched->token);
      const std::chrono::milliseconds lifetime = fetched->lifetime;
      refresh_at_ = now + std::max<std::chrono::milliseconds>(lifetime - kRefreshAhead, lifetime / 2);
      expires_at_ = now + lifetime;
      return token_;
    }
    if (usable) {
      retry_after_ = now + kRetryAfterFailedRefresh;
      return token_;
    }
    return fetched.status();
  }
}

void TokenCache::Invalidate(const std::string& token) {
  std::lock_guard lock(mu_);
  if (token == token_) token_.clear();
}

uint64_t TokenCache::fetches() const {
  std::lock_guard lock(mu_);
  return fetches_;
}

Result<std::unique_ptr<TokenSource>> TokenSourceFromEnvironment() {
  if (!Env("STORAGE_EMULATOR_HOST").empty()) return std::unique_ptr<TokenSource>();
  if (std::string path = Env("GOOGLE_APPLICATION_CREDENTIALS"); !path.empty()) {
    Result<std::unique_ptr<ServiceAccountTokenSource>> source = ServiceAccountTokenSource::FromKeyFile(path);
    if (!source.ok()) return source.status().WithContext("GOOGLE_APPLICATION_CREDENTIALS");
    return std::unique_ptr<TokenSource>(std::move(source).value());
  }
  TB_ASSIGN_OR_RETURN(std::unique_ptr<MetadataServerTokenSource> metadata, MetadataServerTokenSource::Create());
  return std::unique_ptr<TokenSource>(std::move(metadata));
}

}  // namespace tb::objstore::gcs
