// Tests of the GCS store's credentials: the RS256 JWT-bearer flow against a local token endpoint
// that verifies each assertion's signature with the public half of a key made here (OpenSSL), the
// store sending the issued tokens as Bearer, refresh before expiry, a 401 answered with a new
// token, the metadata server's flow, the choice among them from the environment, and the cache's
// timing on a fake clock.
#include "objstore/gcs_auth.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "objstore/gcs_store.h"
#include "objstore/gcs_test_server.h"
#include "util/test_sync.h"

namespace tb::objstore::gcs {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeGoogle;
using testing::TestKey;

#define TB_ASSERT_OK(expr)                                 \
  do {                                                     \
    const ::tb::Status tb_status_ = ::tb::StatusOf(expr);  \
    ASSERT_TRUE(tb_status_.ok()) << tb_status_.ToString(); \
  } while (0)

// Sets an environment variable for one scope, restoring the old value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A temp folder with a key file in it, removed at the end.
class KeyFile {
 public:
  explicit KeyFile(const std::string& json) {
    dir_ = std::filesystem::temp_directory_path() /
           ("tb-gcs-key-" + std::to_string(getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    std::ofstream(path()) << json;
  }
  ~KeyFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path() const { return (dir_ / "key.json").string(); }

 private:
  static inline std::atomic<int> counter_{0};
  std::filesystem::path dir_;
};

http::ClientOptions FastClient() {
  http::ClientOptions o = DefaultTokenClientOptions();
  o.retry.base_delay = milliseconds(5);
  o.retry.max_delay = milliseconds(20);
  return o;
}

// A store on the fake's bucket "bkt", with these credentials, cached on `clock` (null: steady_clock).
Result<std::shared_ptr<GcsStore>> OpenStore(const FakeGoogle& google, std::unique_ptr<TokenSource> source,
                                            TokenCache::Clock clock = {}) {
  GcsOptions o;
  o.endpoint = google.Origin();
  o.bucket = "bkt";
  o.credentials = std::make_shared<TokenCache>(std::move(source), std::move(clock));
  o.http.retry.base_delay = milliseconds(5);
  return GcsStore::Open(o);
}

Result<std::unique_ptr<TokenSource>> ServiceAccount(const KeyFile& file) {
  TB_ASSIGN_OR_RETURN(auto source, ServiceAccountTokenSource::FromKeyFile(file.path(), FastClient()));
  return std::unique_ptr<TokenSource>(std::move(source));
}

TEST(GcsAuthTest, Base64UrlEncodeFollowsRfc4648) {
  // RFC 4648 §10's vectors, in the URL alphabet without padding.
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff\xbf"), "-_-_");  // '+' and '/' in standard base64
}

TEST(GcsAuthTest, KeyFileErrorsNameTheField) {
  TestKey key;
  FakeGoogle google(key);
  nlohmann::json good = nlohmann::json::parse(google.KeyFileJson(key));
  EXPECT_TRUE(ParseServiceAccountKey(good.dump()).ok());
  auto without = [&](const char* field) {
    nlohmann::json j = good;
    j.erase(field);
    return ParseServiceAccountKey(j.dump()).status();
  };
  EXPECT_NE(without("client_email").message().find("client_email"), std::string::npos);
  EXPECT_NE(without("private_key").message().find("private_key"), std::string::npos);
  EXPECT_NE(without("type").message().find("service_account"), std::string::npos);
  nlohmann::json user = good;
  user["type"] = "authorized_user";
  EXPECT_EQ(ParseServiceAccountKey(user.dump()).status().code(), StatusCode::kInvalidArgument);
  nlohmann::json bad_pem = good;
  bad_pem["private_key"] = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  Status s = ParseServiceAccountKey(bad_pem.dump()).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("PEM RSA"), std::string::npos) << s.ToString();
  EXPECT_EQ(ParseServiceAccountKey("{not json").status().code(), StatusCode::kInvalidArgument);
  // Without token_uri, Google's endpoint.
  nlohmann::json no_uri = good;
  no_uri.erase("token_uri");
  EXPECT_EQ(ParseServiceAccountKey(no_uri.dump())->token_uri, "https://oauth2.googleapis.com/token");

  Result<std::unique_ptr<ServiceAccountTokenSource>> missing =
      ServiceAccountTokenSource::FromKeyFile("/nonexistent/key.json");
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("/nonexistent/key.json"), std::string::npos);
}

TEST(GcsAuthTest, TokenResponseMustCarryTokenAndLifetime) {
  Result<FetchedToken> t = ParseTokenResponse("x", R"({"access_token":"abc","expires_in":3599,"token_type":"Bearer"})");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->token, "abc");
  EXPECT_EQ(t->lifetime, seconds(3599));
  EXPECT_FALSE(ParseTokenResponse("x", R"({"expires_in":3599})").ok());
  EXPECT_FALSE(ParseTokenResponse("x", R"({"access_token":"abc"})").ok());
  EXPECT_FALSE(ParseTokenResponse("x", R"({"access_token":"abc","expires_in":0})").ok());
  EXPECT_FALSE(ParseTokenResponse("x", "<html>").ok());
}

// The whole JWT-bearer flow: the endpoint verifies the RS256 signature with the public key and
// checks the claims; the store then sends the issued token as Bearer on every request.
TEST(GcsAuthTest, ServiceAccountTokenIsVerifiedAndUsedAsBearer) {
  TestKey key;
  FakeGoogle google(key);
  KeyFile file(google.KeyFileJson(key));
  auto source = ServiceAccount(file);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_NE((*source)->Describe().find(FakeGoogle::kEmail), std::string::npos);
  Result<std::shared_ptr<GcsStore>> store = OpenStore(google, std::move(source).value());
  ASSERT_TRUE(store.ok()) << store.status().ToString() << " / " << google.last_refusal();
  TB_ASSERT_OK((*store)->Put("a", "abc"));
  Result<ObjectInfo> info = (*store)->Head("a");
  ASSERT_TRUE(info.ok()) << info.status().ToString();

  FakeGoogle::Counts c = google.counts();
  EXPECT_EQ(c.assertions_accepted, 1);  // one token served all three requests
  EXPECT_EQ(c.assertions_refused, 0) << google.last_refusal();
  EXPECT_EQ(c.storage_refused, 0);
  EXPECT_EQ(google.tokens_used(), (std::vector<std::string>{"ya29.test-1", "ya29.test-1", "ya29.test-1"}));
}

TEST(GcsAuthTest, AssertionSignedWithAnotherKeyIsRefused) {
  TestKey trusted, other;
  FakeGoogle google(trusted);
  KeyFile file(google.KeyFileJson(other));  // the right account, the wrong key
  auto source = ServiceAccount(file);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  Result<std::shared_ptr<GcsStore>> store = OpenStore(google, std::move(source).value());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
  EXPECT_NE(store.status().message().find("invalid_grant"), std::string::npos) << store.status().ToString();
  EXPECT_NE(store.status().message().find("Invalid JWT Signature"), std::string::npos);
  EXPECT_EQ(google.counts().assertions_refused, 1);  // a refusal is not retried
  EXPECT_EQ(google.counts().storage_accepted + google.counts().storage_refused, 0);
}

// A token of lifetime L is replaced after L/2 when L is short (after L - 5 min for long ones),
// while it is still valid: no request ever carries an expired token.
TEST(GcsAuthTest, TokenIsRefreshedBeforeItExpires) {
  TestKey key;
  test_sync::ManualSteadyClock clock;  // Google's and the cache's: time passes when the test says
  FakeGoogle google(key, clock.Function());
  google.SetTokenLifetime(seconds(3));  // refresh due after 1.5 s
  KeyFile file(google.KeyFileJson(key));
  auto source = ServiceAccount(file);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  Result<std::shared_ptr<GcsStore>> store = OpenStore(google, std::move(source).value(), clock.Function());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  TB_ASSERT_OK((*store)->Head("a"));
  clock.Advance(milliseconds(600));
  TB_ASSERT_OK((*store)->Head("a"));  // not yet due: the same token
  clock.Advance(milliseconds(1100));
  TB_ASSERT_OK((*store)->Head("a"));  // due (1.7 s of 3 s): a new token
  TB_ASSERT_OK((*store)->Head("a"));

  std::vector<std::string> used = google.tokens_used();
  EXPECT_EQ(used,
            (std::vector<std::string>{"ya29.test-1", "ya29.test-1", "ya29.test-1", "ya29.test-2", "ya29.test-2"}));
  EXPECT_EQ(google.counts().assertions_accepted, 2);
  EXPECT_TRUE(google.IssuedBeforePreviousExpired("ya29.test-2"));
  EXPECT_EQ(google.counts().expired_token_requests, 0);
}

TEST(GcsAuthTest, RevokedTokenIsReplacedOnce) {
  TestKey key;
  FakeGoogle google(key);
  KeyFile file(google.KeyFileJson(key));
  auto source = ServiceAccount(file);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  Result<std::shared_ptr<GcsStore>> store = OpenStore(google, std::move(source).value());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  google.Revoke("ya29.test-1");
  TB_ASSERT_OK((*store)->Head("a"));  // 401, then a new token, then 200
  EXPECT_EQ(google.counts().storage_refused, 1);
  EXPECT_EQ(google.tokens_used().back(), "ya29.test-2");
  // A 401 for a fresh token too is the answer (no loop).
  google.Revoke("ya29.test-2");
  google.Revoke("ya29.test-3");
  Result<ObjectInfo> refused = (*store)->Head("a");
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("401"), std::string::npos);
  EXPECT_EQ(refused.status().message().find("ya29."), std::string::npos) << "a token leaked into an error";
  EXPECT_EQ(google.counts().assertions_accepted, 3);
}

TEST(GcsAuthTest, MetadataServerTokenNeedsTheFlavorHeader) {
  TestKey key;
  FakeGoogle google(key);
  auto source = MetadataServerTokenSource::Create(google.HostPort(), FastClient());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  EXPECT_NE((*source)->Describe().find(google.HostPort()), std::string::npos);
  Result<std::shared_ptr<GcsStore>> store = OpenStore(google, std::move(source).value());
  ASSERT_TRUE(store.ok()) << store.status().ToString() << " / " << google.last_refusal();
  TB_ASSERT_OK((*store)->Put("a", "abc"));
  EXPECT_EQ(google.counts().metadata_tokens, 1);
  EXPECT_EQ(google.counts().metadata_refused, 0);  // the fake refuses requests without the header
  EXPECT_EQ(google.tokens_used(), (std::vector<std::string>{"ya29.test-1", "ya29.test-1"}));
}

TEST(GcsAuthTest, UnreachableMetadataServerSaysWhatToDo) {
  // A port nothing listens on: connections are refused at once.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  close(fd);
  http::ClientOptions o = FastClient();
  o.retry.max_attempts = 2;
  auto source = MetadataServerTokenSource::Create("127.0.0.1:" + std::to_string(port), o);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  Result<FetchedToken> token = (*source)->Fetch();
  EXPECT_EQ(token.status().code(), StatusCode::kUnavailable) << token.status().ToString();
  EXPECT_NE(token.status().message().find("GOOGLE_APPLICATION_CREDENTIALS"), std::string::npos);
}

TEST(GcsAuthTest, EnvironmentChoosesTheSource) {
  TestKey key;
  FakeGoogle google(key);
  KeyFile file(google.KeyFileJson(key));
  {
    ScopedEnv emulator("STORAGE_EMULATOR_HOST", "127.0.0.1:1");
    ScopedEnv creds("GOOGLE_APPLICATION_CREDENTIALS", file.path().c_str());
    auto source = TokenSourceFromEnvironment();
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    EXPECT_EQ(source->get(), nullptr);  // the emulator takes no credentials
    Result<GcsOptions> o = GcsOptionsFromEnvironment("b", "p");
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(o->endpoint, "http://127.0.0.1:1");
    EXPECT_EQ(o->credentials, nullptr);
    o = GcsOptionsFromEnvironment("b", "p", "https://private.example");
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(o->endpoint, "https://private.example");  // an explicit endpoint wins
  }
  {
    ScopedEnv emulator("STORAGE_EMULATOR_HOST", nullptr);
    ScopedEnv creds("GOOGLE_APPLICATION_CREDENTIALS", file.path().c_str());
    auto source = TokenSourceFromEnvironment();
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    ASSERT_NE(source->get(), nullptr);
    EXPECT_NE((*source)->Describe().find(file.path()), std::string::npos);
    Result<GcsOptions> o = GcsOptionsFromEnvironment("b", "p");
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    EXPECT_EQ(o->endpoint, "https://storage.googleapis.com");
    EXPECT_NE(o->credentials, nullptr);
  }
  {
    ScopedEnv emulator("STORAGE_EMULATOR_HOST", nullptr);
    ScopedEnv creds("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json");
    auto source = TokenSourceFromEnvironment();
    EXPECT_EQ(source.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(source.status().message().find("GOOGLE_APPLICATION_CREDENTIALS"), std::string::npos);
  }
  {
    ScopedEnv emulator("STORAGE_EMULATOR_HOST", nullptr);
    ScopedEnv creds("GOOGLE_APPLICATION_CREDENTIALS", nullptr);
    ScopedEnv metadata("GCE_METADATA_HOST", google.HostPort().c_str());
    auto source = TokenSourceFromEnvironment();
    ASSERT_TRUE(source.ok()) << source.status().ToString();
    ASSERT_NE(source->get(), nullptr);
    EXPECT_NE((*source)->Describe().find("metadata server http://" + google.HostPort()), std::string::npos);
    Result<FetchedToken> token = (*source)->Fetch();
    ASSERT_TRUE(token.ok()) << token.status().ToString();
    EXPECT_EQ(google.counts().metadata_tokens, 1);
  }
}

// The cache's timing on a fake clock, with a source that counts and can fail.
class CountingSource : public TokenSource {
 public:
  Result<FetchedToken> Fetch() override {
    ++fetches;
    if (fail) return Status::Unavailable("token endpoint down");
    return FetchedToken{"t" + std::to_string(fetches.load()), lifetime};
  }
  std::string Describe() const override { return "counting"; }
  std::atomic<int> fetches{0};
  std::atomic<bool> fail{false};
  seconds lifetime{3600};
};

TEST(GcsAuthTest, CacheRefreshesFiveMinutesAheadAndSurvivesAFailedRefresh) {
  auto now = std::chrono::steady_clock::time_point() + std::chrono::hours(1);
  auto owned = std::make_unique<CountingSource>();
  CountingSource* source = owned.get();
  TokenCache cache(std::move(owned), [&] { return now; });
  EXPECT_EQ(cache.Token().value(), "t1");
  now += std::chrono::minutes(54);
  EXPECT_EQ(cache.Token().value(), "t1");
  now += std::chrono::minutes(2);  // 56 min: due (55), still valid (60)
  EXPECT_EQ(cache.Token().value(), "t2");
  EXPECT_EQ(source->fetches, 2);

  // Due, but the issuer fails: the still-valid token goes on, and the next try waits 5 s.
  now += std::chrono::minutes(56);
  source->fail = true;
  EXPECT_EQ(cache.Token().value(), "t2");
  EXPECT_EQ(source->fetches, 3);
  now += seconds(1);
  EXPECT_EQ(cache.Token().value(), "t2");
  EXPECT_EQ(source->fetches, 3);
  // Expired (within the 10 s safety margin) and the issuer still fails: the error.
  now += std::chrono::minutes(4);
  Result<std::string> failed = cache.Token();
  EXPECT_EQ(failed.status().code(), StatusCode::kUnavailable);
  source->fail = false;
  EXPECT_EQ(cache.Token().value(), "t5");
  // Invalidate forgets only the current token.
  cache.Invalidate("t2");
  EXPECT_EQ(cache.Token().value(), "t5");
  cache.Invalidate("t5");
  EXPECT_EQ(cache.Token().value(), "t6");
  EXPECT_EQ(cache.fetches(), 4u);  // successful fetches: t1, t2, t5, t6
}

TEST(GcsAuthTest, ConcurrentCallersShareOneFetch) {
  auto owned = std::make_unique<CountingSource>();
  CountingSource* source = owned.get();
  TokenCache cache(std::move(owned));
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      if (cache.Token().ok()) ++ok;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16);
  EXPECT_EQ(source->fetches, 1);
}

}  // namespace
}  // namespace tb::objstore::gcs
