// A local stand-in for Google's side of the GCS store's auth flows, for tests: an OAuth 2.0 token
// endpoint that checks each JWT assertion's RS256 signature against the public half of a key the
// test generates (OpenSSL) and its claims; a metadata server that insists on
// `Metadata-Flavor: Google`; and the few JSON API requests the auth tests make (a LIST, an object's
// metadata, a multipart upload), each answered only for a valid, unexpired, unrevoked Bearer
// token it issued, else 401 as GCS answers. Object semantics are not modelled: the conformance
// suite covers them on fake-gcs-server.
#pragma once

#include <httplib.h>
#include <openssl/evp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tb::objstore::gcs::testing {

// An RSA key pair made for one test (2048 bits).
class TestKey {
 public:
  TestKey();
  ~TestKey();
  TestKey(const TestKey&) = delete;
  TestKey& operator=(const TestKey&) = delete;
  std::string PrivatePem() const;
  EVP_PKEY* pkey() const { return pkey_; }

 private:
  EVP_PKEY* pkey_ = nullptr;
};

class FakeGoogle {
 public:
  static constexpr char kEmail[] = "tracebucket-test@project.iam.gserviceaccount.com";
  static constexpr char kKeyId[] = "test-key-1";

  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // Trusts assertions signed by `trusted`. Tokens are issued and expire on `clock` (null:
  // std::chrono::steady_clock::now), which a test shares with the TokenCache under test.
  explicit FakeGoogle(const TestKey& trusted, Clock clock = {});
  ~FakeGoogle();

  std::string Origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string HostPort() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string TokenUri() const { return Origin() + "/token"; }
  // A service-account key file's JSON for `key`, naming this server's token endpoint.
  std::string KeyFileJson(const TestKey& key) const;

  // Lifetime (expires_in) of the tokens issued from now on.
  void SetTokenLifetime(std::chrono::seconds lifetime);
  // Makes a token (issued or still to come) fail as revoked: GCS requests carrying it get 401.
  void Revoke(const std::string& token);

  struct Counts {
    int assertions_accepted = 0;
    int assertions_refused = 0;
    int metadata_tokens = 0;
    int metadata_refused = 0;  // requests without Metadata-Flavor: Google
    int storage_accepted = 0;
    int storage_refused = 0;         // 401s
    int expired_token_requests = 0;  // storage requests that carried an expired token
  };
  Counts counts() const;
  // The last refusal's reason (for assertions on what was checked).
  std::string last_refusal() const;
  // Tokens seen on accepted storage requests, in order.
  std::vector<std::string> tokens_used() const;
  // The token issued just before `token` was still valid when `token` was issued.
  bool IssuedBeforePreviousExpired(const std::string& token) const;

 private:
  struct Issued {
    std::chrono::steady_clock::time_point issued_at, expires_at;
    std::string previous;
  };
  void TokenEndpoint(const httplib::Request& req, httplib::Response& res);
  void MetadataToken(const httplib::Request& req, httplib::Response& res);
  void Storage(const httplib::Request& req, httplib::Response& res);
  // Checks an assertion; "" if it is good, else why not.
  std::string CheckAssertion(const std::string& jwt) const;
  std::string Issue();  // under mu_

  std::chrono::steady_clock::time_point Now() const;

  EVP_PKEY* trusted_;
  const Clock clock_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::chrono::seconds lifetime_{3600};
  std::map<std::string, Issued> issued_;
  std::set<std::string> revoked_;
  std::string last_issued_;
  Counts counts_;
  std::string last_refusal_;
  std::vector<std::string> tokens_used_;
};

}  // namespace tb::objstore::gcs::testing
