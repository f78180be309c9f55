// Credentials of the GCS store: where its OAuth 2.0 access tokens come from, and the cache that
// keeps one and refreshes it before it expires. docs/format/gcs-store.md describes the flows.
//
//  - A service-account key file (the JSON that GOOGLE_APPLICATION_CREDENTIALS names): the store
//    signs a JWT assertion with the key (RS256, OpenSSL) and trades it at the key's token_uri for
//    an access token (the OAuth 2.0 JWT-bearer grant, RFC 7523).
//  - The metadata server of GCE, GKE (workload identity) and Cloud Run: a GET with
//    `Metadata-Flavor: Google` answers the attached service account's token. Its host is
//    GCE_METADATA_HOST when set (tests), else metadata.google.internal.
//  - STORAGE_EMULATOR_HOST: an emulator, which takes no credentials (no Authorization header).
//
// Access tokens are secrets: they never appear in errors or logs, nor do keys.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "objstore/http_client.h"
#include "util/status.h"

namespace tb::objstore::gcs {

// The scope every token is asked for: read and write objects (no bucket administration).
inline constexpr std::string_view kStorageScope = "https://www.googleapis.com/auth/devstorage.read_write";

struct FetchedToken {
  std::string token;                 // the bearer token
  std::chrono::seconds lifetime{0};  // expires_in of the answer
};

// A way to get a new access token; each Fetch asks the issuer again (no caching here).
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // FAILED_PRECONDITION when the issuer refuses (bad key, revoked account, no such service
  // account); UNAVAILABLE when it cannot be reached or keeps failing after the retries.
  virtual Result<FetchedToken> Fetch() = 0;
  // For logs and errors, never a secret: "service account NAME (key file PATH)", ...
  virtual std::string Describe() const = 0;
};

// How token sources talk HTTP: the shared client and its retry policy (http_client.h). Token
// requests are small; a handful of connections is plenty.
http::ClientOptions DefaultTokenClientOptions();

// A service account's key, as read from its JSON key file.
struct ServiceAccountKey {
  std::string client_email;
  std::string private_key_id;  // the JWT's "kid"; may be empty
  std::string private_key_pem;
  std::string token_uri;  // where assertions are traded for tokens
};

// Parses a key file's JSON ("type": "service_account"). INVALID_ARGUMENT naming the missing or
// malformed field, or a private key that OpenSSL cannot read as an RSA key.
Result<ServiceAccountKey> ParseServiceAccountKey(std::string_view json);

// The signed JWT assertion of the JWT-bearer grant: header {"alg":"RS256","typ":"JWT","kid":..},
// claims {iss: client_email, scope, aud: token_uri, iat: now, exp: now + 1 h}, RS256 over
// base64url(header) "." base64url(claims). Exposed for tests.
Result<std::string> SignJwtAssertion(const ServiceAccountKey& key, std::string_view scope,
                                     std::chrono::system_clock::time_point now);

// RFC 4648 §5 base64url without padding (JWT's encoding).
std::string Base64UrlEncode(std::string_view bytes);

// The JWT-bearer grant with a service account's key.
class ServiceAccountTokenSource final : public TokenSource {
 public:
  // Reads and parses the key file. INVALID_ARGUMENT (unreadable or malformed file, naming it).
  static Result<std::unique_ptr<ServiceAccountTokenSource>> FromKeyFile(
      const std::string& path, http::ClientOptions client = DefaultTokenClientOptions());
  static Result<std::unique_ptr<ServiceAccountTokenSource>> FromKey(
      ServiceAccountKey key, std::string origin, http::ClientOptions client = DefaultTokenClientOptions());

  Result<FetchedToken> Fetch() override;
  std::string Describe() const override;

 private:
  ServiceAccountTokenSource(ServiceAccountKey key, std::string origin, std::unique_ptr<http::HttpClient> client);
  const ServiceAccountKey key_;
  const std::string origin_;  // for Describe: "key file PATH" or what the caller named
  const std::unique_ptr<http::HttpClient> client_;
};

// The metadata server's token for the instance's default service account.
class MetadataServerTokenSource final : public TokenSource {
 public:
  // `host`: "HOST[:PORT]" or empty for GCE_METADATA_HOST, else metadata.google.internal.
  static Result<std::unique_ptr<MetadataServerTokenSource>> Create(std::string host = "",
                                                                   http::ClientOptions client = {});

  Result<FetchedToken> Fetch() override;
  std::string Describe() const override;

 private:
  MetadataServerTokenSource(std::string url, std::unique_ptr<http::HttpClient> client);
  const std::string url_;
  const std::unique_ptr<http::HttpClient> client_;
};

// Parses a token answer of either issuer: {"access_token": "...", "expires_in": N, ...}.
// INTERNAL when it is not one (`issuer` names the source in the message).
Result<FetchedToken> ParseTokenResponse(std::string_view issuer, std::string_view body);

// Keeps the current token of a source and refreshes it ahead of its expiry: a token of lifetime L
// is replaced once max(L - 5 min, L / 2) has passed (after 55 minutes for Google's one-hour
// tokens). One caller refreshes while the others keep using the old token if it is still valid;
// once it has expired they wait for the refresh. A failed refresh with a still-valid token keeps
// that token (and tries again after 5 s) rather than failing requests.
class TokenCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit TokenCache(std::unique_ptr<TokenSource> source, Clock clock = {});

  // The current access token (fetching one first when there is none or it is due).
  Result<std::string> Token();
  // Forgets `token` (if it is still the current one), so that the next Token() fetches a new one:
  // for a 401 on a token that was expected to be valid (revoked, clock skew).
  void Invalidate(const std::string& token);
  std::string Describe() const { return source_->Describe(); }
  // Tokens fetched since construction.
  uint64_t fetches() const;

 private:
  const std::unique_ptr<TokenSource> source_;
  const Clock clock_;
  mutable std::mutex mu_;
  std::condition_variable refreshed_;
  std::string token_;                                  // guarded by mu_; empty: none
  std::chrono::steady_clock::time_point refresh_at_;   // guarded by mu_
  std::chrono::steady_clock::time_point expires_at_;   // guarded by mu_
  std::chrono::steady_clock::time_point retry_after_;  // guarded by mu_: after a failed refresh
  bool refreshing_ = false;                            // guarded by mu_
  uint64_t fetches_ = 0;                               // guarded by mu_
};

// Where a store's credentials come from when none are given, as Google's client libraries choose:
// STORAGE_EMULATOR_HOST set → none (nullptr); else GOOGLE_APPLICATION_CREDENTIALS (a service
// account key file); else the metadata server. Errors name the variable or file.
Result<std::unique_ptr<TokenSource>> TokenSourceFromEnvironment();

}  // namespace tb::objstore::gcs
