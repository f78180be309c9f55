#include "objstore/gcs_test_server.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "objstore/gcs_auth.h"
#include "util/test_http_server.h"

namespace tb::objstore::gcs::testing {
namespace {

// base64url (no padding) → bytes; "" and false on bad input.
bool Base64UrlDecode(std::string_view in, std::string* out) {
  std::string b64(in);
  for (char& c : b64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (b64.size() % 4 != 0) b64.push_back('=');
  std::string bytes(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(bytes.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()), static_cast<int>(b64.size()));
  if (n < 0) return false;
  size_t pad = b64.size() - b64.find_last_not_of('=') - 1;
  bytes.resize(static_cast<size_t>(n) - pad);
  *out = std::move(bytes);
  return true;
}

void Json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void OAuthError(httplib::Response& res, const std::string& why) {
  Json(res, 400, {{"error", "invalid_grant"}, {"error_description", why}});
}

}  // namespace

TestKey::TestKey() {
  pkey_ = EVP_RSA_gen(2048);
  if (pkey_ == nullptr) throw std::runtime_error("EVP_RSA_gen failed");
}

TestKey::~TestKey() { EVP_PKEY_free(pkey_); }

std::string TestKey::PrivatePem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey_, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

FakeGoogle::FakeGoogle(const TestKey& trusted, Clock clock) : trusted_(trusted.pkey()), clock_(std::move(clock)) {
  server_.Post("/token", [this](const httplib::Request& req, httplib::Response& res) { TokenEndpoint(req, res); });
  server_.Get("/computeMetadata/v1/instance/service-accounts/default/token",
              [this](const httplib::Request& req, httplib::Response& res) { MetadataToken(req, res); });
  auto storage = [this](const httplib::Request& req, httplib::Response& res) { Storage(req, res); };
  server_.Get("/storage/v1/.*", storage);
  server_.Post("/upload/storage/v1/.*", storage);
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = test_sync::ServeInBackground(server_);
}

FakeGoogle::~FakeGoogle() {
  server_.stop();
  thread_.join();
}

std::string FakeGoogle::KeyFileJson(const TestKey& key) const {
  nlohmann::json file = {{"type", "service_account"},       {"project_id", "project"}, {"private_key_id", kKeyId},
                         {"private_key", key.PrivatePem()}, {"client_email", kEmail},  {"client_id", "1234567890"},
                         {"token_uri", TokenUri()}};
  return file.dump(2);
}

void FakeGoogle::SetTokenLifetime(std::chrono::seconds lifetime) {
  std::lock_guard lock(mu_);
  lifetime_ = lifetime;
}

void FakeGoogle::Revoke(const std::string& token) {
  std::lock_guard lock(mu_);
  revoked_.insert(token);
}

FakeGoogle::Counts FakeGoogle::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

std::string FakeGoogle::last_refusal() const {
  std::lock_guard lock(mu_);
  return last_refusal_;
}

std::vector<std::string> FakeGoogle::tokens_used() const {
  std::lock_guard lock(mu_);
  return tokens_used_;
}

bool FakeGoogle::IssuedBeforePreviousExpired(const std::string& token) const {
  std::lock_guard lock(mu_);
  auto it = issued_.find(token);
  if (it == issued_.end() || it->second.previous.empty()) return false;
  return it->second.issued_at < issued_.at(it->second.previous).expires_at;
}

std::chrono::steady_clock::time_point FakeGoogle::Now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

std::string FakeGoogle::Issue() {
  std::string token = "ya29.test-" + std::to_string(issued_.size() + 1);
  Issued& t = issued_[token];
  t.issued_at = Now();
  t.expires_at = t.issued_at + lifetime_;
  t.previous = last_issued_;
  last_issued_ = token;
  return token;
}

std::string FakeGoogle::CheckAssertion(const std::string& jwt) const {
  size_t dot1 = jwt.find('.');
  size_t dot2 = dot1 == std::string::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string::npos || jwt.find('.', dot2 + 1) != std::string::npos) return "not a JWS compact token";
  std::string header_json, claims_json, signature;
  if (!Base64UrlDecode(std::string_view(jwt).substr(0, dot1), &header_json) ||
      !Base64UrlDecode(std::string_view(jwt).substr(dot1 + 1, dot2 - dot1 - 1), &claims_json) ||
      !Base64UrlDecode(std::string_view(jwt).substr(dot2 + 1), &signature)) {
    return "bad base64url";
  }
  // The signature first: over the first two parts exactly as sent, with the trusted public key.
  std::string_view signed_part = std::string_view(jwt).substr(0, dot2);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool verified = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, trusted_) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                                   reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!verified) return "Invalid JWT Signature.";
  nlohmann::json header = nlohmann::json::parse(header_json, nullptr, false);
  nlohmann::json claims = nlohmann::json::parse(claims_json, nullptr, false);
  if (!header.is_object() || !claims.is_object()) return "header or claims not JSON objects";
  if (header.value("alg", "") != "RS256" || header.value("typ", "") != "JWT") return "alg/typ not RS256/JWT";
  if (header.value("kid", "") != kKeyId) return "kid is not the key's id";
  if (claims.value("iss", "") != kEmail) return "iss is not the service account";
  if (claims.value("aud", "") != TokenUri()) return "aud is not the token endpoint";
  if (claims.value("scope", "") != kStorageScope) return "scope is not devstorage.read_write";
  if (!claims.contains("iat") || !claims.contains("exp") || !claims["iat"].is_number_integer() ||
      !claims["exp"].is_number_integer()) {
    return "iat/exp missing";
  }
  int64_t iat = claims["iat"].get<int64_t>(), exp = claims["exp"].get<int64_t>();
  int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (std::llabs(iat - now) > 60) return "iat is not now";
  if (exp - iat != 3600) return "exp is not iat + 1 h";
  return "";
}

void FakeGoogle::TokenEndpoint(const httplib::Request& req, httplib::Response& res) {
  httplib::Params form;
  httplib::detail::parse_query_text(req.body, form);
  auto field = [&](const char* name) {
    auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
  };
  std::string why;
  if (req.get_header_value("Content-Type") != "application/x-www-form-urlencoded") {
    why = "not a form";
  } else if (field("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer") {
    why = "unsupported grant_type";
  } else {
    why = CheckAssertion(field("assertion"));
  }
  std::lock_guard lock(mu_);
  if (!why.empty()) {
    ++counts_.assertions_refused;
    last_refusal_ = why;
    OAuthError(res, why);
    return;
  }
  ++counts_.assertions_accepted;
  Json(res, 200, {{"access_token", Issue()}, {"expires_in", lifetime_.count()}, {"token_type", "Bearer"}});
}

void FakeGoogle::MetadataToken(const httplib::Request& req, httplib::Response& res) {
  std::lock_guard lock(mu_);
  if (req.get_header_value("Metadata-Flavor") != "Google") {
    ++counts_.metadata_refused;
    last_refusal_ = "no Metadata-Flavor: Google";
    res.status = 403;
    res.set_content("Missing required header: Metadata-Flavor", "text/plain");
    return;
  }
  ++counts_.metadata_tokens;
  Json(res, 200, {{"access_token", Issue()}, {"expires_in", lifetime_.count()}, {"token_type", "Bearer"}});
}

void FakeGoogle::Storage(const httplib::Request& req, httplib::Response& res) {
  std::string auth = req.get_header_value("Authorization");
  std::string token = auth.starts_with("Bearer ") ? auth.substr(7) : "";
  std::lock_guard lock(mu_);
  auto it = issued_.find(token);
  bool expired = it != issued_.end() && Now() >= it->second.expires_at;
  if (expired) ++counts_.expired_token_requests;
  if (it == issued_.end() || revoked_.contains(token) || expired) {
    ++counts_.storage_refused;
    last_refusal_ = "401 for token \"" + token + "\"";
    Json(res, 401,
         {{"error", {{"code", 401}, {"message", "Invalid Credentials"}, {"errors", {{{"reason", "authError"}}}}}}});
    return;
  }
  ++counts_.storage_accepted;
  tokens_used_.push_back(token);
  if (req.method == "POST") {
    Json(res, 200, {{"kind", "storage#object"}, {"name", "uploaded"}});
  } else if (req.path.ends_with("/o")) {
    Json(res, 200, {{"kind", "storage#objects"}});
  } else {
    Json(res, 200, {{"kind", "storage#object"}, {"name", "x"}, {"size", "3"}});
  }
}

}  // namespace tb::objstore::gcs::testing
