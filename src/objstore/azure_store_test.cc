// Tests of AzureStore: SharedKey signing against a string-to-sign written out by hand from Azure's
// rules, the helpers, and request shapes and recovery against a small local server (always run);
// the generic conformance suite and Azure-specific cases against a real emulator (Azurite, started
// by scripts/azurite-up.sh, which checks every signature) named by AZURITE_BLOB_ENDPOINT, with
// AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY.
//
// Without AZURITE_BLOB_ENDPOINT the emulator tests are skipped locally; under CI=true they fail,
// unless TB_AZURITE_SKIPPED says why scripts/test.sh could not start one (no npm).
//
// Every store gets a container of its own; the conformance suite's are deleted after each test
// (Azurite answers more slowly with every blob it holds, in any container), the few other tests'
// blobs go with scripts/azurite-down.sh.
#include "objstore/azure_store.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <thread>

#include "objstore/object_store_suite.h"
#include "objstore/s3_store.h"
#include "util/test_http_server.h"

namespace tb::objstore {
namespace {

using std::chrono::milliseconds;

#define TB_ASSERT_OK(expr)                                 \
  do {                                                     \
    const ::tb::Status tb_status_ = ::tb::StatusOf(expr);  \
    ASSERT_TRUE(tb_status_.ok()) << tb_status_.ToString(); \
  } while (0)

// Azurite's development account key, published with Azurite (and what scripts/azurite-up.sh exports).
constexpr char kDevKey[] = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

// ---------------------------------------------------------------------------------------------
// Environment: the emulator
// ---------------------------------------------------------------------------------------------
const Emulator kEmulator{"AZURITE_BLOB_ENDPOINT", "TB_AZURITE_SKIPPED", "Azure emulator",
                         "Start one with `source <(scripts/azurite-up.sh)` (Azurite, from npm), or run "
                         "scripts/test.sh."};

// A container nobody else uses (Azure: 3-63 of a-z, 0-9, '-').
std::string NewContainerName() { return UniqueTestName("tb"); }

// A store on a new container in the emulator, under `prefix`, with the credentials of the
// environment (AZURE_STORAGE_ACCOUNT, AZURE_STORAGE_KEY) as the server would take them.
Result<std::shared_ptr<AzureStore>> OpenOnEmulator(const std::string& prefix,
                                                   const std::function<void(AzureOptions&)>& tweak = {},
                                                   std::string container = NewContainerName()) {
  TB_ASSIGN_OR_RETURN(AzureOptions o,
                      AzureOptionsFromEnvironment(std::move(container), prefix, TestEnv("AZURITE_BLOB_ENDPOINT")));
  o.create_container = true;
  o.http.retry.base_delay = milliseconds(20);
  if (tweak) tweak(o);
  return AzureStore::Open(o);
}

// Every upload of at least one byte staged as 256 KiB blocks and committed with a block list.
void SmallBlocks(AzureOptions& o) {
  o.block_threshold = 1;
  o.block_size = 256 << 10;
}

// ---------------------------------------------------------------------------------------------
// The generic conformance suite on the emulator: blocks from 4 MiB in blocks of 1 MiB (the suite's
// 20 MiB object as 20 blocks and a block list, the rest as single Put Blobs), and every upload as
// 256 KiB blocks. Each test's container is deleted after it: Azurite answers more slowly with every
// blob it holds in any container (the suite took 540 s instead of 18 s when they stayed).
// ---------------------------------------------------------------------------------------------
std::shared_ptr<ObjectStore> MakeEmptyAzureStore(const std::function<void(AzureOptions&)>& tweak) {
  return kEmulator.StoreForSuite([&]() -> Result<std::shared_ptr<ObjectStore>> {
    TB_ASSIGN_OR_RETURN(std::shared_ptr<AzureStore> store, OpenOnEmulator("conformance", tweak));
    // At the end of the test its container goes, blobs and all.
    return std::shared_ptr<ObjectStore>(store.get(), [store](ObjectStore*) {
      Status s = store->DeleteContainerForTest();
      if (!s.ok()) ADD_FAILURE() << "deleting the test container: " << s.ToString();
    });
  });
}

void MidSizedBlocks(AzureOptions& o) {
  o.block_threshold = 4 << 20;
  o.block_size = 1 << 20;
}

INSTANTIATE_TEST_SUITE_P(Azure, ObjectStoreConformance,
                         ::testing::Values(StoreFactory{"Azure", [] { return MakeEmptyAzureStore(MidSizedBlocks); },
                                                        /*backslash_keys=*/false},
                                           StoreFactory{"AzureBlocks", [] { return MakeEmptyAzureStore(SmallBlocks); },
                                                        /*backslash_keys=*/false}),
                         StoreFactoryName());

// ---------------------------------------------------------------------------------------------
// Azure-specific, on the emulator
// ---------------------------------------------------------------------------------------------
TEST(AzureEmulatorTest, DescribeAndContainerChecks) {
  TB_REQUIRE_EMULATOR(kEmulator);
  const std::string container = NewContainerName();
  Result<std::shared_ptr<AzureStore>> store = OpenOnEmulator("tenant-a", {}, container);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "azblob://" + container + "/tenant-a");
  Result<std::shared_ptr<AzureStore>> missing =
      OpenOnEmulator("x", [](AzureOptions& o) { o.create_container = false; });
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos) << missing.status().ToString();
}

// Azurite checks SharedKey signatures: a request signed with another key is refused at Open.
TEST(AzureEmulatorTest, RequestsSignedWithAWrongKeyAreRefused) {
  TB_REQUIRE_EMULATOR(kEmulator);
  Result<std::shared_ptr<AzureStore>> store = OpenOnEmulator("x", [](AzureOptions& o) {
    o.account_key = s3::Base64Encode(std::string(64, 'k'));
    o.http.retry.max_attempts = 1;
  });
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status().ToString();
  EXPECT_NE(store.status().message().find("403"), std::string::npos) << store.status().ToString();
}

// The same account through a connection string, as Azure's tools write one.
TEST(AzureEmulatorTest, ConnectionStringOpensTheSameAccount) {
  TB_REQUIRE_EMULATOR(kEmulator);
  Result<azure::ConnectionString> cs = azure::ParseConnectionString(
      "DefaultEndpointsProtocol=http;AccountName=" + TestEnv("AZURE_STORAGE_ACCOUNT") +
      ";AccountKey=" + TestEnv("AZURE_STORAGE_KEY") + ";BlobEndpoint=" + TestEnv("AZURITE_BLOB_ENDPOINT") + ";");
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  AzureOptions o;
  o.endpoint = cs->blob_endpoint;
  o.account = cs->account;
  o.account_key = cs->account_key;
  o.container = NewContainerName();
  o.create_container = true;
  Result<std::shared_ptr<AzureStore>> store = AzureStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  TB_ASSERT_OK((*store)->Put("k", "v"));
  EXPECT_EQ((*store)->Get("k").value(), "v");
}

TEST(AzureEmulatorTest, LargeObjectsGoAsBlocksAndReadBackInRanges) {
  TB_REQUIRE_EMULATOR(kEmulator);
  Result<std::shared_ptr<AzureStore>> store = OpenOnEmulator("large", [](AzureOptions& o) {
    o.block_threshold = 1 << 20;
    o.block_size = 512 << 10;
  });
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string big = RandomBytes((3 << 20) + 12345, 7);  // 7 blocks, the last one short
  TB_ASSERT_OK((*store)->Put("big", big));
  TB_ASSERT_OK((*store)->Put("small", "below the threshold"));
  EXPECT_EQ((*store)->GetStats().block_uploads, 1u);
  ExpectReadsBack(**store, "big", big);
  // Overwriting with blocks replaces the whole blob.
  const std::string other = RandomBytes((1 << 20) + 1, 8);
  TB_ASSERT_OK((*store)->Put("big", other));
  EXPECT_TRUE((*store)->Get("big").value() == other);
}

// 16 writers, each with its own store (own connections), race to create the same name: once with
// single Put Blobs, once with blocks and a block list (three blocks each, all staged under the one
// blob name at the same time). Azure decides at Put Blob or Put Block List, atomically.
TEST(AzureEmulatorTest, RacingCreatorsHaveExactlyOneWinner) {
  TB_REQUIRE_EMULATOR(kEmulator);
  constexpr int kWriters = 16;
  const std::string container = NewContainerName();
  for (bool blocks : {false, true}) {
    SCOPED_TRACE(blocks ? "block lists" : "single puts");
    std::vector<std::shared_ptr<ObjectStore>> writers;
    for (int i = 0; i < kWriters; ++i) {
      Result<std::shared_ptr<AzureStore>> store =
          OpenOnEmulator("race", blocks ? SmallBlocks : std::function<void(AzureOptions&)>(), container);
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      writers.push_back(std::move(store).value());
    }
    for (int round = 0; round < 3; ++round) {
      SCOPED_TRACE("round " + std::to_string(round));
      ExpectOneCreateOnlyWinner(writers, std::string(blocks ? "blocks-" : "single-") + std::to_string(round),
                                [&](int i) { return RandomBytes((600 << 10) + i, round * 100 + i); });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------
// A Put Block request, and its string-to-sign written out line by line from Azure's rules: the
// verb; Content-Encoding, Content-Language, Content-Length (the body's), Content-MD5, Content-Type,
// Date, If-Modified-Since, If-Match, If-None-Match, If-Unmodified-Since, Range; the x-ms-* headers
// lower-cased, trimmed and sorted; "/account" + the path as sent; the query parameters
// lower-cased, sorted and decoded.
http::Request PutBlockRequest() {
  http::Request req;
  req.method = "PUT";
  req.url = "http://127.0.0.1:10000/devstoreaccount1/tb-c/p/a%20b%2Bc?timeout=30&comp=block&blockid=QUJD";
  req.headers = {"Content-Type: application/octet-stream",
                 "Content-MD5: 0W+zbwkR+HiZjBNhka9wXg==",
                 "x-ms-version: 2021-12-02",
                 "If-None-Match: *",
                 "X-MS-Date:  Sun, 06 Dec 2026 02:10:51 GMT",
                 "x-ms-blob-type: BlockBlob"};
  req.body = "xyz";
  return req;
}

TEST(AzureSigningTest, StringToSignFollowsTheDocumentedRules) {
  const std::string expected =
      "PUT\n"
      "\n"                          // Content-Encoding
      "\n"                          // Content-Language
      "3\n"                         // Content-Length
      "0W+zbwkR+HiZjBNhka9wXg==\n"  // Content-MD5
      "application/octet-stream\n"  // Content-Type
      "\n"                          // Date (x-ms-date is used)
      "\n"                          // If-Modified-Since
      "\n"                          // If-Match
      "*\n"                         // If-None-Match
      "\n"                          // If-Unmodified-Since
      "\n"                          // Range
      "x-ms-blob-type:BlockBlob\n"  // canonicalized headers
      "x-ms-date:Sun, 06 Dec 2026 02:10:51 GMT\n"
      "x-ms-version:2021-12-02\n"
      "/devstoreaccount1/devstoreaccount1/tb-c/p/a%20b%2Bc"  // canonicalized resource
      "\nblockid:QUJD\ncomp:block\ntimeout:30";
  EXPECT_EQ(azure::StringToSign(PutBlockRequest(), "devstoreaccount1"), expected);

  // A ranged GET: no body, so Content-Length and Content-Type are empty; x-ms-range is a
  // canonicalized header; a repeated parameter's values are sorted and joined by ','.
  http::Request get;
  get.url = "https://acct.blob.core.windows.net/c/k?b=2&A=y%2Fz&b=1";
  get.headers = {"x-ms-range: bytes=5-9", "x-ms-date: D", "x-ms-version: V"};
  EXPECT_EQ(azure::StringToSign(get, "acct"),
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:D\nx-ms-range:bytes=5-9\nx-ms-version:V\n/acct/c/k\na:y/z\nb:1,2");
}

TEST(AzureSigningTest, SignatureIsHmacSha256OfTheStringToSign) {
  http::Request req = PutBlockRequest();
  TB_ASSERT_OK(azure::SignSharedKey(req, "devstoreaccount1", kDevKey));
  // base64(HMAC-SHA256(base64-decoded key, the string-to-sign above)), computed independently.
  EXPECT_EQ(req.headers.back(),
            "Authorization: SharedKey devstoreaccount1:iPJ3k6UtwDLA2I4cix0sGjeKmGmcFyFyn/SG54/e5Qg=");
  http::Request other = PutBlockRequest();
  EXPECT_EQ(azure::SignSharedKey(other, "a", "not base64!").code(), StatusCode::kInvalidArgument);
}

TEST(AzureSigningTest, Helpers) {
  EXPECT_EQ(azure::HttpDate(std::chrono::system_clock::from_time_t(784111777)), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(azure::Base64Decode("YWJj").value(), "abc");
  EXPECT_EQ(azure::Base64Decode("YWI=").value(), "ab");
  EXPECT_EQ(azure::Base64Decode("YQ==").value(), "a");
  EXPECT_FALSE(azure::Base64Decode("YQ=").ok());
  EXPECT_FALSE(azure::Base64Decode("Y=Q=").ok());
  EXPECT_EQ(azure::Base64Decode(kDevKey).value().size(), 64u);
  // Block ids: one length for every block of a blob, the upload's tag inside.
  EXPECT_EQ(azure::BlockId("0123456789abcdef", 7), s3::Base64Encode("0123456789abcdef-000007"));
  EXPECT_EQ(azure::BlockId("t", 0).size(), azure::BlockId("t", 49999).size());
  EXPECT_EQ(
      azure::BlockListXml({"QQ==", "Qg=="}),
      R"(<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>QQ==</Latest><Latest>Qg==</Latest></BlockList>)");
}

TEST(AzureSigningTest, ConnectionStrings) {
  Result<azure::ConnectionString> cs = azure::ParseConnectionString(
      "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
      "EndpointSuffix=core.chinacloudapi.cn");
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_EQ(cs->account, "acct");
  EXPECT_EQ(cs->account_key, "a2V5");
  EXPECT_EQ(cs->blob_endpoint, "https://acct.blob.core.chinacloudapi.cn");
  cs = azure::ParseConnectionString("BlobEndpoint=http://127.0.0.1:1/x;SharedAccessSignature=sv=1&sig=a%3D");
  ASSERT_TRUE(cs.ok()) << cs.status().ToString();
  EXPECT_EQ(cs->blob_endpoint, "http://127.0.0.1:1/x");
  EXPECT_EQ(cs->sas_token, "sv=1&sig=a%3D");
  EXPECT_FALSE(azure::ParseConnectionString("AccountName=acct").ok());  // no credentials
  EXPECT_FALSE(azure::ParseConnectionString("AccountKey=a2V5").ok());   // no account
  EXPECT_FALSE(azure::ParseConnectionString("garbage").ok());
}

TEST(AzureSigningTest, ListBlobsAnswers) {
  Result<azure::ListResult> r = azure::ParseListBlobs(
      R"(<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="x" ContainerName="c">)"
      R"(<Prefix>p/</Prefix><MaxResults>2</MaxResults><Blobs>)"
      R"(<Blob><Name>p/a &amp; b</Name><Properties><Content-Length>3</Content-Length></Properties></Blob>)"
      R"(<Blob><Name Encoded="true">p/%01+x</Name><Properties><Content-Length>12345678901</Content-Length></Properties></Blob>)"
      R"(</Blobs><NextMarker>2!8!abc</NextMarker></EnumerationResults>)");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(r->objects[0].key, "p/a & b");
  EXPECT_EQ(r->objects[0].size, 3u);
  EXPECT_EQ(r->objects[1].key, "p/\x01+x");
  EXPECT_EQ(r->objects[1].size, 12345678901u);
  EXPECT_EQ(r->next_marker, "2!8!abc");
  EXPECT_FALSE(azure::ParseListBlobs("<nope/>").ok());
}

// ---------------------------------------------------------------------------------------------
// Request shapes and recovery, against a local server
// ---------------------------------------------------------------------------------------------
// Serves 127.0.0.1:<port>/acct: the List Blobs of Open answers an empty page; every other request
// goes to the handler.
class LocalAzure {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  explicit LocalAzure(Handler handler) : handler_(std::move(handler)) {
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "GET" && req.path == "/acct/cnt" && req.get_param_value("maxresults") == "1") {
        res.set_content("<EnumerationResults><Blobs/></EnumerationResults>", "application/xml");
        return;
      }
      handler_(req, res);
    };
    server_.Get(".*", route);
    server_.Put(".*", route);
    server_.Delete(".*", route);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = test_sync::ServeInBackground(server_);
  }
  ~LocalAzure() {
    server_.stop();
    thread_.join();
  }
  AzureOptions Options() const {
    AzureOptions o;
    o.endpoint = "http://127.0.0.1:" + std::to_string(port_) + "/acct";
    o.account = "acct";
    o.container = "cnt";
    o.sas_token = "?sv=2021&sig=s%2Fg";
    o.http.retry.max_attempts = 3;
    o.http.retry.base_delay = milliseconds(5);
    o.http.retry.max_delay = milliseconds(20);
    return o;
  }

 private:
  Handler handler_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

void AzureError(httplib::Response& res, int status, const std::string& code) {
  res.status = status;
  res.set_header("x-ms-error-code", code);
  res.set_content(
      "<?xml version=\"1.0\"?><Error><Code>" + code + "</Code><Message>It failed.\nRequestId:1</Message></Error>",
      "application/xml");
}

// ServerBusy and OperationTimedOut are retried; a create-only write whose first answer was lost
// (stored, but 503) gets 409 on the retry and is recognised as ours by the blob's Content-MD5.
TEST(AzureLocalTest, RetriesAndLostAnswersOfCreateOnlyWrites) {
  for (bool ours : {true, false}) {
    std::mutex mu;
    std::vector<std::string> seen;  // "METHOD target If-None-Match"
    int puts = 0;
    LocalAzure azure([&](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      seen.push_back(req.method + " " + req.target + " " + req.get_header_value("If-None-Match"));
      if (req.method == "PUT") {
        ++puts;
        if (puts == 1) return AzureError(res, 503, "ServerBusy");
        if (puts == 2) return AzureError(res, 500, "OperationTimedOut");
        return AzureError(res, 409, "BlobAlreadyExists");
      }
      if (req.method == "HEAD" || req.method == "GET") {
        res.set_header("Content-MD5", s3::Md5Base64(ours ? "me" : "someone else"));
        res.set_content("xx", "application/octet-stream");
        return;
      }
      res.status = 400;
    });
    Result<std::shared_ptr<AzureStore>> store = AzureStore::Open(azure.Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    Status s = (*store)->Put("lease", "me", PutMode::kCreateOnly);
    if (ours) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
    }
    std::lock_guard lock(mu);
    ASSERT_EQ(seen.size(), 4u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(seen[i], "PUT /acct/cnt/lease?sv=2021&sig=s%2Fg *");
    EXPECT_EQ(seen[3], "HEAD /acct/cnt/lease?sv=2021&sig=s%2Fg ");
    EXPECT_EQ((*store)->GetStats().retries, 2u);
  }
}

TEST(AzureLocalTest, RequestShapes) {
  std::mutex mu;
  std::vector<std::string> seen;  // "METHOD target"
  std::string range, blob_type;
  LocalAzure azure([&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    seen.push_back(req.method + " " + req.target);
    EXPECT_FALSE(req.get_header_value("x-ms-date").empty());
    EXPECT_EQ(req.get_header_value("x-ms-version"), "2021-12-02");
    EXPECT_FALSE(req.has_header("Authorization")) << "a SAS request is not signed";
    if (req.method == "PUT") {
      blob_type = req.get_header_value("x-ms-blob-type");
      res.status = 201;
    } else if (req.method == "GET" && req.path == "/acct/cnt") {
      if (req.get_param_value("marker").empty()) {
        res.set_content(
            R"(<EnumerationResults><Blobs><Blob><Name>p/a b</Name><Properties><Content-Length>3</Content-Length></Properties></Blob></Blobs><NextMarker>m/1</NextMarker></EnumerationResults>)",
            "application/xml");
      } else {
        res.set_content(
            R"(<EnumerationResults><Blobs><Blob><Name>p/c</Name><Properties><Content-Length>4</Content-Length></Properties></Blob></Blobs><NextMarker/></EnumerationResults>)",
            "application/xml");
      }
    } else if (req.method == "GET") {
      range = req.get_header_value("x-ms-range");
      res.status = 206;
      res.set_content("bcd", "application/octet-stream");
    } else if (req.method == "DELETE") {
      if (req.path.ends_with("gone")) return AzureError(res, 404, "BlobNotFound");
      res.status = 202;
    } else {
      res.status = 400;
    }
  });
  AzureOptions o = azure.Options();
  o.prefix = "p";
  Result<std::shared_ptr<AzureStore>> store = AzureStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  TB_ASSERT_OK((*store)->Put("dir/a b+c", "xyz"));
  Result<std::string> got = (*store)->Get("dir/a b+c", 1, 3);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "bcd");
  EXPECT_EQ(range, "bytes=1-3");
  Result<ListPage> page = (*store)->List("", "", 2);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "a b");
  EXPECT_EQ(page->next_token, "m/1");
  page = (*store)->List("", page->next_token, 2);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->objects[0].key, "c");
  EXPECT_TRUE(page->next_token.empty());
  TB_ASSERT_OK((*store)->Delete({"x", "gone"}));

  std::lock_guard lock(mu);
  EXPECT_EQ(blob_type, "BlockBlob");
  auto saw = [&](const std::string& s) { return std::find(seen.begin(), seen.end(), s) != seen.end(); };
  const std::string sas = "sv=2021&sig=s%2Fg";
  EXPECT_TRUE(saw("PUT /acct/cnt/p/dir/a%20b%2Bc?" + sas));
  EXPECT_TRUE(saw("GET /acct/cnt?restype=container&comp=list&maxresults=2&prefix=p%2F&marker=m%2F1&" + sas));
  EXPECT_TRUE(saw("DELETE /acct/cnt/p/x?" + sas));
  EXPECT_TRUE(saw("DELETE /acct/cnt/p/gone?" + sas));
}

TEST(AzureLocalTest, OptionChecks) {
  AzureOptions o;
  o.account = "acct";
  o.account_key = kDevKey;
  o.container = "Bad_Name";
  EXPECT_EQ(AzureStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.container = "good-name";
  o.sas_token = "sv=1";  // both credentials
  EXPECT_EQ(AzureStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.sas_token.clear();
  o.account_key = "not base64";
  EXPECT_EQ(AzureStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.account_key = kDevKey;
  o.endpoint = "ftp://x";
  EXPECT_EQ(AzureStore::Open(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tb::objstore
