// Tests of S3Store: the helpers, request shapes and retries against a tiny local fake (always
// run), and the generic conformance suite plus S3-specific cases against a real S3 server (Ceph
// RGW, started by scripts/s3-up.sh) named by S3_ENDPOINT / S3_REGION / S3_ACCESS_KEY /
// S3_SECRET_KEY. Without S3_ENDPOINT the server tests are skipped locally and fail under CI=true.
//
// Every test process uses its own bucket "tb-test-<pid>-<ms>", created on first use and emptied and
// deleted when the process ends; every store inside it gets its own prefix.
#include "objstore/s3_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "objstore/object_store_suite.h"
#include "util/test_http_server.h"

namespace tb::objstore {
namespace {

using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Environment: the real S3 server
// ---------------------------------------------------------------------------------------------
constexpr char kNoS3[] =
    "S3_ENDPOINT is not set: no S3 server for this test. Start one with `source <(scripts/s3-up.sh)` "
    "(Ceph RGW; see docs/format/s3-store.md), or run scripts/test.sh.";

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string_view(ci) != "false" && std::string_view(ci) != "0";
}

std::string Env(const char* name, const char* fallback = "") {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

bool HaveS3() { return !Env("S3_ENDPOINT").empty(); }

// Skips (locally) or fails (CI=true) the current test when there is no S3 server.
#define TB_REQUIRE_S3()            \
  do {                             \
    if (!HaveS3()) {               \
      if (InCi()) FAIL() << kNoS3; \
      GTEST_SKIP() << kNoS3;       \
    }                              \
  } while (0)

S3Options RgwOptions(const std::string& bucket, const std::string& prefix) {
  S3Options o;
  o.endpoint = Env("S3_ENDPOINT");
  o.region = Env("S3_REGION", "us-east-1");
  o.access_key = Env("S3_ACCESS_KEY");
  o.secret_key = Env("S3_SECRET_KEY");
  o.bucket = bucket;
  o.prefix = prefix;
  o.retry.base_delay = milliseconds(20);
  o.request_timeout = milliseconds(60000);
  return o;
}

// The process's bucket: created on first use, deleted at exit (by the gtest environment below).
class TestBucket : public ::testing::Environment {
 public:
  static const std::string& Name() {
    static const std::string name = [] {
      auto ms = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
      return "tb-test-" + std::to_string(getpid()) + "-" + std::to_string(ms);
    }();
    return name;
  }

  // A store on the process's bucket under a prefix of its own.
  static Result<std::shared_ptr<S3Store>> Open(const std::string& prefix, std::function<void(S3Options&)> tweak = {}) {
    S3Options o = RgwOptions(Name(), prefix);
    o.create_bucket = true;
    if (tweak) tweak(o);
    Result<std::shared_ptr<S3Store>> store = S3Store::Open(o);
    if (store.ok()) {
      std::lock_guard lock(mu_);
      used_ = true;
    }
    return store;
  }

  void TearDown() override {
    {
      std::lock_guard lock(mu_);
      if (!used_) return;
    }
    Result<std::shared_ptr<S3Store>> store = S3Store::Open(RgwOptions(Name(), ""));
    Status s = store.ok() ? (*store)->DeleteBucketForTest() : store.status();
    if (!s.ok()) std::cerr << "could not delete test bucket " << Name() << ": " << s.ToString() << "\n";
  }

 private:
  static inline std::mutex mu_;
  static inline bool used_ = false;
};

[[maybe_unused]] const auto* const kBucketEnv = ::testing::AddGlobalTestEnvironment(new TestBucket);

std::string UniquePrefix(std::string_view what) {
  static std::atomic<int> n{0};
  return std::string(what) + "-" + std::to_string(n++) + "/";
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) s[i + j] = static_cast<char>(v >> (8 * j));
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// The generic conformance suite
// ---------------------------------------------------------------------------------------------
// A new store on an empty prefix of the process's bucket, with the default options (so the suite's
// 20 MiB object is a single PUT; MultipartUploadAndRangesAcrossParts covers multipart).
// Failures are recorded as fatal (FAIL in a lambda): after a fatal failure in SetUp gtest does not
// run the test body, which would otherwise dereference the missing store.
std::shared_ptr<ObjectStore> MakeEmptyS3Store() {
  if (!HaveS3()) {
    if (InCi()) {
      [] { FAIL() << kNoS3; }();
    } else {
      [] { GTEST_SKIP() << kNoS3; }();
    }
    return nullptr;
  }
  Result<std::shared_ptr<S3Store>> store = TestBucket::Open(UniquePrefix("conformance"));
  if (!store.ok()) {
    [&] { FAIL() << store.status().ToString(); }();
    return nullptr;
  }
  return std::move(store).value();
}

INSTANTIATE_TEST_SUITE_P(S3, ObjectStoreConformance,
                         ::testing::Values(StoreFactory{"S3", [] { return MakeEmptyS3Store(); }}), StoreFactoryName());

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------
TEST(S3HelpersTest, UriEncode) {
  EXPECT_EQ(s3::UriEncode("AZaz09-._~", false), "AZaz09-._~");
  EXPECT_EQ(s3::UriEncode("a b+c=d/é", false), "a%20b%2Bc%3Dd%2F%C3%A9");
  EXPECT_EQ(s3::UriEncode("dir/a b+c=d~eé.txt", true), "dir/a%20b%2Bc%3Dd~e%C3%A9.txt");
  EXPECT_EQ(s3::UriEncode("%*?&#\x01\xff", false), "%25%2A%3F%26%23%01%FF");
  EXPECT_EQ(s3::UriEncode("", true), "");
}

TEST(S3HelpersTest, UrlDecode) {
  EXPECT_EQ(*s3::UrlDecode("a%20b%2Bc+d%C3%A9"), "a b+c dé");
  EXPECT_EQ(*s3::UrlDecode("plain/key~"), "plain/key~");
  EXPECT_EQ(s3::UrlDecode("bad%2").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s3::UrlDecode("bad%zz").status().code(), StatusCode::kInvalidArgument);
}

TEST(S3HelpersTest, CanonicalQuery) {
  EXPECT_EQ(s3::CanonicalQuery({}), "");
  EXPECT_EQ(s3::CanonicalQuery({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(s3::CanonicalQuery({{"delete", ""}}), "delete=");
  EXPECT_EQ(s3::CanonicalQuery({{"prefix", "list/"},
                                {"max-keys", "2"},
                                {"list-type", "2"},
                                {"continuation-token", "list/k2 +é"},
                                {"encoding-type", "url"}}),
            "continuation-token=list%2Fk2%20%2B%C3%A9&encoding-type=url&list-type=2&max-keys=2&prefix=list%2F");
  EXPECT_EQ(s3::CanonicalQuery({{"uploadId", "a/b=c"}, {"partNumber", "10"}}), "partNumber=10&uploadId=a%2Fb%3Dc");
  // Sorted by the encoded name (byte order: upper case before lower case), then by value.
  EXPECT_EQ(s3::CanonicalQuery({{"b", "2"}, {"a", "z"}, {"B", "1"}, {"a", "y"}}), "B=1&a=y&a=z&b=2");
}

TEST(S3HelpersTest, XmlEscape) { EXPECT_EQ(s3::XmlEscape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;"); }

TEST(S3HelpersTest, Digests) {
  EXPECT_EQ(s3::Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s3::Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(s3::Md5Base64(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(s3::HexEncode(s3::Md5Raw("hello")), "5d41402abc4b2a76b9719d911017c592");
}

TEST(S3HelpersTest, ParseErrorBody) {
  s3::ErrorBody e = s3::ParseErrorBody(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The key does not "
      "exist</Message><RequestId>tx1</RequestId></Error>");
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.message, "The key does not exist");
  EXPECT_EQ(s3::ParseErrorBody("").code, "");
  EXPECT_EQ(s3::ParseErrorBody("<html>bad gateway</html>").code, "");
  EXPECT_EQ(s3::ParseErrorBody("not xml at all").code, "");
}

TEST(S3HelpersTest, ParseListObjectsV2) {
  Result<s3::ListResult> r = s3::ParseListObjectsV2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><EncodingType>url</EncodingType><Name>b</Name>"
      "<Prefix>p%2F</Prefix><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
      "<Contents><Key>p%2Fa%20b%2Bc%C3%A9</Key><Size>5</Size></Contents>"
      "<Contents><Key>p%2Fz</Key><Size>12345678901</Size></Contents>"
      "<NextContinuationToken>p/z</NextContinuationToken><KeyCount>2</KeyCount></ListBucketResult>");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(r->objects[0].key, "p/a b+cé");
  EXPECT_EQ(r->objects[0].size, 5u);
  EXPECT_EQ(r->objects[1].key, "p/z");
  EXPECT_EQ(r->objects[1].size, 12345678901u);
  EXPECT_TRUE(r->truncated);
  EXPECT_EQ(r->next_token, "p/z");

  Result<s3::ListResult> plain = s3::ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a+b</Key><Size>0</Size></Contents>"
      "</ListBucketResult>");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->objects[0].key, "a+b");  // not url-encoded: taken as is
  EXPECT_FALSE(plain->truncated);

  EXPECT_FALSE(s3::ParseListObjectsV2("<Error><Code>x</Code></Error>").ok());
  EXPECT_FALSE(s3::ParseListObjectsV2("<ListBucketResult><Contents><Key>a</Key><Size>x</Size></Contents>"
                                      "</ListBucketResult>")
                   .ok());
}

TEST(S3OptionsTest, Validation) {
  S3Options o;
  o.endpoint = "http://127.0.0.1:1";
  o.bucket = "b";
  o.access_key = "AK";
  o.secret_key = "SK";
  auto code_with = [&](std::function<void(S3Options&)> f) {
    S3Options copy = o;
    f(copy);
    return S3Store::Open(copy).status().code();
  };
  EXPECT_EQ(code_with([](S3Options& x) { x.bucket = ""; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with([](S3Options& x) { x.endpoint = "127.0.0.1:7480"; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with([](S3Options& x) { x.endpoint = "ftp://h"; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with([](S3Options& x) { x.part_size = 1 << 20; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with([](S3Options& x) { x.retry.max_attempts = 0; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(code_with([](S3Options& x) { x.prefix = "/abs"; }), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// A fake S3 endpoint for request shapes and failure paths
// ---------------------------------------------------------------------------------------------
std::string ErrorXml(std::string_view code, std::string_view message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>" + std::string(code) + "</Code><Message>" +
         std::string(message) + "</Message></Error>";
}

// A self-signed certificate for 127.0.0.1 (EC P-256, valid for an hour), as PEM files: the server
// serves it, and as a CA bundle it is the one certificate that verifies the server.
struct TestCertificate {
  std::string cert_file, key_file;
};
TestCertificate MakeSelfSignedCertificate(const std::string& name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                             0);
  X509_set_issuer_name(cert, subject);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] :
       {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  TestCertificate out{::testing::TempDir() + name + ".crt", ::testing::TempDir() + name + ".key"};
  FILE* f = std::fopen(out.cert_file.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(out.key_file.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

// Serves 127.0.0.1:<port>: HEAD /bkt answers 200 (so Open succeeds); every other request goes to
// the handler. All requests are recorded. With a certificate it serves HTTPS.
class FakeS3 {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  struct Seen {
    std::string method, target, body;
    std::multimap<std::string, std::string, httplib::detail::ci> headers;
  };

  explicit FakeS3(Handler handler, const TestCertificate* tls = nullptr)
      : handler_(std::move(handler)),
        server_(tls ? std::make_unique<httplib::SSLServer>(tls->cert_file.c_str(), tls->key_file.c_str())
                    : std::make_unique<httplib::Server>()),
        scheme_(tls ? "https" : "http") {
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mu_);
        seen_.push_back(Seen{req.method, req.target, req.body, {req.headers.begin(), req.headers.end()}});
      }
      if (req.method == "HEAD" && req.path == "/bkt") return;  // 200
      handler_(req, res);
    };
    server_->Get(".*", route);
    server_->Put(".*", route);
    server_->Post(".*", route);
    server_->Delete(".*", route);
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = test_sync::ServeInBackground(*server_);
  }
  ~FakeS3() {
    server_->stop();
    thread_.join();
  }

  S3Options Options() const {
    S3Options o;
    o.endpoint = scheme_ + "://127.0.0.1:" + std::to_string(port_);
    o.bucket = "bkt";
    o.access_key = "AKFAKE";
    o.secret_key = "secret";
    o.retry.max_attempts = 3;
    o.retry.base_delay = milliseconds(5);
    o.retry.max_delay = milliseconds(20);
    return o;
  }
  std::vector<Seen> Requests() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  std::vector<Seen> Requests(std::string_view method) {
    std::vector<Seen> out;
    for (Seen& s : Requests()) {
      if (s.method == method) out.push_back(std::move(s));
    }
    return out;
  }

 private:
  Handler handler_;
  std::unique_ptr<httplib::Server> server_;
  std::string scheme_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

std::string HeaderOf(const FakeS3::Seen& s, const std::string& name) {
  auto it = s.headers.find(name);
  return it == s.headers.end() ? "" : it->second;
}

// s3.ca_file: an https endpoint whose certificate a private CA signed is verified against the
// bundle; without it (the system's CAs) or with another bundle, Open fails at once with a
// certificate error, not after retries.
TEST(S3FakeTest, HttpsEndpointIsVerifiedAgainstTheCaFile) {
  const TestCertificate server_cert = MakeSelfSignedCertificate("tb_s3_server");
  const TestCertificate other = MakeSelfSignedCertificate("tb_s3_other");
  FakeS3 fake(
      [](const httplib::Request& req, httplib::Response& res) {
        if (req.method == "GET" && req.path == "/bkt/k") res.set_content("over tls", "application/octet-stream");
      },
      &server_cert);
  S3Options o = fake.Options();
  ASSERT_TRUE(o.endpoint.starts_with("https://"));
  o.ca_file = server_cert.cert_file;
  auto store = S3Store::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto got = (*store)->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "over tls");
  for (const std::string& ca_file : {std::string(), other.cert_file}) {
    o.ca_file = ca_file;
    auto refused = S3Store::Open(o);
    ASSERT_FALSE(refused.ok()) << "ca_file '" << ca_file << "'";
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition) << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("certificate"), std::string::npos) << refused.status().ToString();
  }
}

TEST(S3FakeTest, RequestShapes) {
  FakeS3 fake([](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" && req.path == "/bkt") {
      res.set_content(
          "<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
          "<Contents><Key>pre%2Fdir%2Fa%20b</Key><Size>3</Size></Contents></ListBucketResult>",
          "application/xml");
    }
  });
  S3Options o = fake.Options();
  o.prefix = "pre";
  o.session_token = "TOKEN123";
  auto store = S3Store::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "s3://bkt/pre");
  ASSERT_TRUE((*store)->Put("dir/a b+c=d~é", "hello", PutMode::kCreateOnly).ok());
  Result<ListPage> page = (*store)->List("dir/", "tok/1 2", 10);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "dir/a b");  // relative to the store prefix
  ASSERT_TRUE((*store)->Get("x", 5, 10).ok());

  std::vector<FakeS3::Seen> puts = fake.Requests("PUT");
  ASSERT_EQ(puts.size(), 1u);
  const FakeS3::Seen& put = puts[0];
  EXPECT_EQ(put.target, "/bkt/pre/dir/a%20b%2Bc%3Dd~%C3%A9");
  EXPECT_EQ(put.body, "hello");
  EXPECT_EQ(HeaderOf(put, "x-amz-content-sha256"), s3::Sha256Hex("hello"));
  EXPECT_EQ(HeaderOf(put, "Content-MD5"), s3::Md5Base64("hello"));
  EXPECT_EQ(HeaderOf(put, "If-None-Match"), "*");
  EXPECT_EQ(HeaderOf(put, "x-amz-security-token"), "TOKEN123");
  std::string auth = HeaderOf(put, "Authorization");
  EXPECT_TRUE(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKFAKE/")) << auth;
  EXPECT_NE(auth.find("/us-east-1/s3/aws4_request"), std::string::npos) << auth;
  for (const char* h :
       {"content-md5", "host", "if-none-match", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"}) {
    EXPECT_NE(auth.find(h), std::string::npos) << h << " is not signed: " << auth;
  }

  std::vector<FakeS3::Seen> gets = fake.Requests("GET");
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_EQ(gets[0].target,
            "/bkt?continuation-token=tok%2F1%202&encoding-type=url&list-type=2&max-keys=10&prefix=pre%2Fdir%2F");
  EXPECT_EQ(HeaderOf(gets[0], "x-amz-content-sha256"), s3::Sha256Hex(""));
  EXPECT_EQ(gets[1].target, "/bkt/pre/x");
  EXPECT_EQ(HeaderOf(gets[1], "Range"), "bytes=5-14");
}

TEST(S3FakeTest, RetriesSlowDownThenSucceeds) {
  std::atomic<int> puts{0};
  FakeS3 fake([&](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "PUT" && puts++ < 2) {
      res.status = 503;
      res.set_content(ErrorXml("SlowDown", "Please reduce your request rate."), "application/xml");
    }
  });
  S3Options o = fake.Options();
  o.retry.max_attempts = 5;
  std::vector<std::string> events;
  o.retry.on_retry = [&](const RetryEvent& e) {
    events.push_back(std::string(e.operation) + " #" + std::to_string(e.attempt) + ": " + e.error->message());
  };
  auto store = S3Store::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Status s = (*store)->Put("k", "v");
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(puts.load(), 3);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0], "PUT k #1: s3 PUT k: 503 SlowDown: Please reduce your request rate.");
  EXPECT_EQ((*store)->GetStats().retries, 2u);
}

TEST(S3FakeTest, GivesUpAfterMaxAttemptsWithUnavailable) {
  std::atomic<int> gets{0};
  FakeS3 fake([&](const httplib::Request&, httplib::Response& res) {
    ++gets;
    res.status = 500;
    res.set_content(ErrorXml("InternalError", "boom"), "application/xml");
  });
  auto store = S3Store::Open(fake.Options());
  ASSERT_TRUE(store.ok());
  Result<std::string> r = (*store)->Get("k");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "s3 GET k: 500 InternalError: boom (after 3 attempts)");
  EXPECT_EQ(gets.load(), 3);
}

TEST(S3FakeTest, ClientErrorsAreNotRetried) {
  std::atomic<int> calls{0};
  FakeS3 fake([&](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    if (req.path == "/bkt/denied") {
      res.status = 403;
      res.set_content(ErrorXml("AccessDenied", "no"), "application/xml");
    } else {
      res.status = 404;
      res.set_content(ErrorXml("NoSuchKey", ""), "application/xml");
    }
  });
  auto store = S3Store::Open(fake.Options());
  ASSERT_TRUE(store.ok());
  Result<std::string> missing = (*store)->Get("missing");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "s3 GET missing: 404 NoSuchKey");
  Status denied = (*store)->Put("denied", "x");
  EXPECT_EQ(denied.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(denied.message(), "s3 PUT denied: 403 AccessDenied: no");
  EXPECT_EQ(calls.load(), 2);
}

TEST(S3FakeTest, ConnectionRefusedIsRetriedThenUnavailable) {
  // A bound but not listening socket: connections to its port are refused, and nobody else can
  // take the port meanwhile.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  S3Options o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  o.bucket = "bkt";
  o.access_key = "AK";
  o.secret_key = "SK";
  o.retry.max_attempts = 3;
  o.retry.base_delay = milliseconds(5);
  int retries = 0;
  o.retry.on_retry = [&](const RetryEvent&) { ++retries; };
  auto store = S3Store::Open(o);
  close(fd);
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(store.status().message().find("(after 3 attempts)"), std::string::npos) << store.status().ToString();
  EXPECT_NE(store.status().message().find("HEAD bucket bkt"), std::string::npos) << store.status().ToString();
  EXPECT_EQ(retries, 2);
}

TEST(S3FakeTest, RetriedCreateOnlyPutRecognisesItsOwnEarlierSuccess) {
  // The first PUT "succeeds" but its answer is lost (500); the retry then finds the object (412).
  std::string etag = "\"" + s3::HexEncode(s3::Md5Raw("mine")) + "\"";
  std::atomic<int> puts{0};
  FakeS3 fake([&](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "PUT") {
      res.status = puts++ == 0 ? 500 : 412;
      res.set_content(ErrorXml(res.status == 500 ? "InternalError" : "PreconditionFailed", ""), "application/xml");
    } else if (req.method == "HEAD") {
      res.set_header("ETag", req.path == "/bkt/mine" ? etag : "\"0123\"");
    }
  });
  auto store = S3Store::Open(fake.Options());
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Put("mine", "mine", PutMode::kCreateOnly).ok());
  puts = 0;
  EXPECT_EQ((*store)->Put("theirs", "mine", PutMode::kCreateOnly).code(), StatusCode::kAlreadyExists);
}

TEST(S3FakeTest, MultipartAbortsOnPartFailure) {
  FakeS3 fake([&](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "POST" && req.has_param("uploads")) {
      res.set_content(
          "<InitiateMultipartUploadResult><Bucket>bkt</Bucket><Key>big</Key><UploadId>up/1</UploadId>"
          "</InitiateMultipartUploadResult>",
          "application/xml");
    } else if (req.method == "PUT" && req.get_param_value("partNumber") == "2") {
      res.status = 400;
      res.set_content(ErrorXml("EntityTooSmall", "part too small"), "application/xml");
    } else if (req.method == "PUT") {
      res.set_header("ETag", "\"e" + req.get_param_value("partNumber") + "\"");
    } else if (req.method == "DELETE") {
      res.status = 204;
    }
  });
  S3Options o = fake.Options();
  o.multipart_threshold = 6 << 20;
  o.part_size = 5 << 20;
  o.upload_parallelism = 1;
  auto store = S3Store::Open(o);
  ASSERT_TRUE(store.ok());
  Status s = (*store)->Put("big", std::string(12 << 20, 'x'));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "s3 PUT big (part 2 of 3): 400 EntityTooSmall: part too small");
  std::vector<FakeS3::Seen> deletes = fake.Requests("DELETE");
  ASSERT_EQ(deletes.size(), 1u);
  EXPECT_EQ(deletes[0].target, "/bkt/big?uploadId=up%2F1");
  EXPECT_EQ(fake.Requests("PUT").size(), 2u);  // part 3 is never sent after part 2 failed
  std::vector<FakeS3::Seen> posts = fake.Requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].target, "/bkt/big?uploads=");
  EXPECT_EQ(HeaderOf(posts[0], "Content-Length"), "0");
  EXPECT_EQ(HeaderOf(posts[0], "x-amz-content-sha256"), s3::Sha256Hex(""));
}

TEST(S3FakeTest, PerKeyDeleteErrorsAreReported) {
  FakeS3 fake([&](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "POST" && req.has_param("delete")) {
      res.set_content(
          "<DeleteResult><Error><Key>a</Key><Code>NoSuchKey</Code></Error>"
          "<Error><Key>b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>",
          "application/xml");
    }
  });
  auto store = S3Store::Open(fake.Options());
  ASSERT_TRUE(store.ok());
  Status s = (*store)->Delete({"a", "b", "c"});
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("1 keys not deleted: b: AccessDenied: Access Denied"), std::string::npos) << s.ToString();
  std::vector<FakeS3::Seen> posts = fake.Requests("POST");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0].target, "/bkt?delete=");
  EXPECT_EQ(HeaderOf(posts[0], "Content-MD5"), s3::Md5Base64(posts[0].body));
  EXPECT_NE(posts[0].body.find("<Quiet>true</Quiet><Object><Key>a</Key></Object>"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// Against the real S3 server
// ---------------------------------------------------------------------------------------------
TEST(S3RgwTest, WrongSecretKeyIsAClear403) {
  TB_REQUIRE_S3();
  ASSERT_TRUE(TestBucket::Open(UniquePrefix("auth")).ok());  // the bucket exists
  S3Options o = RgwOptions(TestBucket::Name(), "");
  o.secret_key = "wrong" + o.secret_key;
  auto store = S3Store::Open(o);
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("403 SignatureDoesNotMatch"), std::string::npos) << store.status().ToString();

  o = RgwOptions(TestBucket::Name(), "");
  o.access_key = "NOSUCHACCESSKEY00000";
  store = S3Store::Open(o);
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("403 InvalidAccessKeyId"), std::string::npos) << store.status().ToString();
}

TEST(S3RgwTest, MissingBucketWithoutCreate) {
  TB_REQUIRE_S3();
  S3Options o = RgwOptions(TestBucket::Name() + "-absent", "");
  auto store = S3Store::Open(o);
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
}

TEST(S3RgwTest, CreateOnlyRaceHasExactlyOneWinner) {
  TB_REQUIRE_S3();
  auto store = TestBucket::Open(UniquePrefix("race"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (int round = 0; round < 3; ++round) {
    std::string key = "manifest-" + std::to_string(round);
    constexpr int kWriters = 16;
    std::latch start(kWriters);
    std::vector<Status> results(kWriters);
    std::vector<std::thread> writers;
    for (int i = 0; i < kWriters; ++i) {
      writers.emplace_back([&, i] {
        start.arrive_and_wait();
        results[i] = (*store)->Put(key, "writer-" + std::to_string(i), PutMode::kCreateOnly);
      });
    }
    for (std::thread& t : writers) t.join();
    int winner = -1, lost = 0;
    for (int i = 0; i < kWriters; ++i) {
      if (results[i].ok()) {
        EXPECT_EQ(winner, -1) << "two winners";
        winner = i;
      } else {
        EXPECT_EQ(results[i].code(), StatusCode::kAlreadyExists) << results[i].ToString();
        ++lost;
      }
    }
    ASSERT_NE(winner, -1);
    EXPECT_EQ(lost, kWriters - 1);
    EXPECT_EQ(*(*store)->Get(key), "writer-" + std::to_string(winner));
  }
}

TEST(S3RgwTest, MultipartUploadAndRangesAcrossParts) {
  TB_REQUIRE_S3();
  constexpr uint64_t kPart = 5 << 20;
  auto store = TestBucket::Open(UniquePrefix("multipart"), [](S3Options& o) {
    o.multipart_threshold = 8 << 20;
    o.part_size = kPart;
  });
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string data = RandomBytes((40 << 20) + 123, 42);  // 8 full parts and a short 9th
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*store)->Put("blocks/big", data).ok());
  auto ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "multipart PUT of " << data.size() << " bytes: " << ms << " ms\n";
  EXPECT_EQ((*store)->GetStats().multipart_uploads, 1u);
  EXPECT_EQ((*store)->Head("blocks/big")->size, data.size());

  Result<std::string> all = (*store)->Get("blocks/big");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_TRUE(*all == data);
  for (uint64_t boundary : {kPart, 2 * kPart, 8 * kPart}) {
    Result<std::string> across = (*store)->Get("blocks/big", boundary - 1000, 3000);
    ASSERT_TRUE(across.ok()) << across.status().ToString();
    EXPECT_TRUE(*across == data.substr(boundary - 1000, 3000)) << "across " << boundary;
  }
  Result<std::string> tail = (*store)->Get("blocks/big", data.size() - 100, 1000);  // cut short at the end
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(*tail == data.substr(data.size() - 100));

  // Create-only above the threshold: the HEAD check refuses an existing object.
  EXPECT_EQ((*store)->Put("blocks/big", data, PutMode::kCreateOnly).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ((*store)->GetStats().multipart_uploads, 1u);
}

TEST(S3RgwTest, ListPaginationAndDeleteBeyondOneThousandKeys) {
  TB_REQUIRE_S3();
  auto store = TestBucket::Open(UniquePrefix("bulk"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  constexpr int kKeys = 1100;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "k/%05d", i);
    keys.push_back(name);
  }
  auto t0 = std::chrono::steady_clock::now();
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 16; ++t) {
    writers.emplace_back([&] {
      for (int i; (i = next++) < kKeys;) {
        if (!(*store)->Put(keys[i], keys[i]).ok()) ++failures;
      }
    });
  }
  for (std::thread& t : writers) t.join();
  ASSERT_EQ(failures.load(), 0);
  auto put_ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();

  Result<ListPage> first = (*store)->List("k/", "", 1000);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->objects.size(), 1000u);
  ASSERT_FALSE(first->next_token.empty());
  Result<ListPage> second = (*store)->List("k/", first->next_token, 1000);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->objects.size(), 100u);
  EXPECT_TRUE(second->next_token.empty());
  std::vector<std::string> listed;
  for (const ListPage* p : {&*first, &*second}) {
    for (const ObjectInfo& o : p->objects) {
      listed.push_back(o.key);
      EXPECT_EQ(o.size, 7u);
    }
  }
  EXPECT_EQ(listed, keys);  // every key once, in order

  // Small pages follow tokens too.
  std::vector<std::string> paged;
  std::string token;
  int pages = 0;
  do {
    Result<ListPage> p = (*store)->List("k/0000", token, 3);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    for (const ObjectInfo& o : p->objects) paged.push_back(o.key);
    token = p->next_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(paged, std::vector<std::string>(keys.begin(), keys.begin() + 10));
  EXPECT_GE(pages, 4);

  std::vector<std::string> to_delete = keys;
  to_delete.push_back("k/never-existed");
  t0 = std::chrono::steady_clock::now();
  Status deleted = (*store)->Delete(to_delete);  // two DeleteObjects batches
  auto delete_ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(deleted.ok()) << deleted.ToString();
  Result<ListPage> after = (*store)->List("k/", "", 1000);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->objects.empty());
  std::cout << kKeys << " PUTs (16 threads): " << put_ms << " ms; DELETE of " << to_delete.size()
            << " keys: " << delete_ms << " ms\n";
}

TEST(S3RgwTest, KeysWithSpecialCharacters) {
  TB_REQUIRE_S3();
  auto store = TestBucket::Open(UniquePrefix("names"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::vector<std::string> keys = {
      "dir/a b+c=d~eé.txt",
      "space here",
      "plus+plus",
      "eq=eq",
      "tilde~",
      "é/ü/ß/日本",
      "percent%41%",
      "q?x#y&z",
      "semi;colon,comma",
      "star*(paren)!'$@:",
      "quote\"lt<gt>amp&",
      "tab\tnewline\n",
      "x/.hidden",
  };
  for (const std::string& key : keys) {
    ASSERT_TRUE((*store)->Put(key, "v:" + key).ok()) << key;
    Result<std::string> got = (*store)->Get(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status().ToString();
    EXPECT_EQ(*got, "v:" + key);
    Result<ObjectInfo> head = (*store)->Head(key);
    ASSERT_TRUE(head.ok()) << key << ": " << head.status().ToString();
    EXPECT_EQ(head->size, key.size() + 2);
  }
  Result<ListPage> page = (*store)->List("", "", 1000);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  std::set<std::string> listed;
  for (const ObjectInfo& o : page->objects) listed.insert(o.key);
  EXPECT_EQ(listed, std::set<std::string>(keys.begin(), keys.end()));
  ASSERT_TRUE((*store)->Delete(keys).ok());
  for (const std::string& key : keys) EXPECT_EQ((*store)->Head(key).status().code(), StatusCode::kNotFound) << key;
}

TEST(S3RgwTest, PrefixesIsolateStores) {
  TB_REQUIRE_S3();
  std::string base = UniquePrefix("iso");
  auto a = TestBucket::Open(base + "a");
  auto b = TestBucket::Open(base + "a/b");  // nested under a
  auto c = TestBucket::Open(base + "ab");   // shares a's string prefix, not its folder
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_TRUE((*a)->Put("x", "1").ok());
  ASSERT_TRUE((*b)->Put("y", "2").ok());
  ASSERT_TRUE((*c)->Put("z", "3").ok());
  auto keys = [](S3Store& s) {
    std::vector<std::string> out;
    Result<ListPage> page = s.List("", "", 1000);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (page.ok()) {
      for (const ObjectInfo& o : page->objects) out.push_back(o.key);
    }
    return out;
  };
  EXPECT_EQ(keys(**a), (std::vector<std::string>{"b/y", "x"}));
  EXPECT_EQ(keys(**b), (std::vector<std::string>{"y"}));
  EXPECT_EQ(keys(**c), (std::vector<std::string>{"z"}));
  EXPECT_EQ((*c)->Get("x").status().code(), StatusCode::kNotFound);
}

TEST(S3RgwTest, RangeEdgesAndErrors) {
  TB_REQUIRE_S3();
  auto store = TestBucket::Open(UniquePrefix("range"));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Put("ten", "0123456789").ok());
  ASSERT_TRUE((*store)->Put("empty", "").ok());
  EXPECT_EQ(*(*store)->Get("ten", 3, 4), "3456");
  EXPECT_EQ(*(*store)->Get("ten", 8), "89");
  EXPECT_EQ(*(*store)->Get("ten", 8, 100), "89");
  EXPECT_EQ(*(*store)->Get("ten", 10), "");
  EXPECT_EQ(*(*store)->Get("ten", 4, 0), "");
  EXPECT_EQ((*store)->Get("ten", 11).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->Get("ten", 11, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*(*store)->Get("empty"), "");
  EXPECT_EQ(*(*store)->Get("empty", 0, 5), "");
  EXPECT_EQ((*store)->Get("empty", 1).status().code(), StatusCode::kInvalidArgument);
  Result<std::string> missing = (*store)->Get("missing");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("404 NoSuchKey"), std::string::npos) << missing.status().ToString();
  EXPECT_EQ((*store)->Head("missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*store)->Get("missing", 5, 5).status().code(), StatusCode::kNotFound);
}

TEST(S3RgwTest, ConnectionsAreReused) {
  TB_REQUIRE_S3();
  auto store = TestBucket::Open(UniquePrefix("reuse"));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  auto t0 = std::chrono::steady_clock::now();
  constexpr int kGets = 200;
  for (int i = 0; i < kGets; ++i) ASSERT_TRUE((*store)->Get("k").ok());
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  std::cout << kGets << " sequential GETs: " << us / kGets << " us each\n";
  S3Store::Stats stats = (*store)->GetStats();
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_LE(stats.connections, 2u) << "connections are not reused";
}

TEST(S3RgwTest, VirtualHostedAddressing) {
  TB_REQUIRE_S3();
  // scripts/s3-up.sh configures RGW for http://<bucket>.localhost:<port>/ (rgw dns name).
  if (Env("S3_VHOST_ENDPOINT").empty()) GTEST_SKIP() << "S3_VHOST_ENDPOINT is not set (scripts/s3-up.sh sets it)";
  std::string prefix = UniquePrefix("vhost");
  auto path_style = TestBucket::Open(prefix);
  ASSERT_TRUE(path_style.ok()) << path_style.status().ToString();
  auto vhost = TestBucket::Open(prefix, [](S3Options& o) {
    o.endpoint = Env("S3_VHOST_ENDPOINT");
    o.path_style = false;
  });
  ASSERT_TRUE(vhost.ok()) << vhost.status().ToString();
  ASSERT_TRUE((*vhost)->Put("dir/a b+c", "virtual").ok());
  EXPECT_EQ(*(*path_style)->Get("dir/a b+c"), "virtual");
  EXPECT_EQ(*(*vhost)->Get("dir/a b+c", 1, 3), "irt");
  Result<ListPage> page = (*vhost)->List("dir/", "", 10);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "dir/a b+c");
  ASSERT_TRUE((*vhost)->Delete({"dir/a b+c"}).ok());
  EXPECT_EQ((*path_style)->Head("dir/a b+c").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace tb::objstore
