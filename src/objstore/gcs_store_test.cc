// Tests of GcsStore: the generic conformance suite and GCS-specific cases against a real emulator
// (fake-gcs-server, started by scripts/gcs-up.sh) named by STORAGE_EMULATOR_HOST, and the request
// shapes and recovery paths that an emulator cannot show (a resumable upload resumed after a failed
// chunk, a create-only upload whose answer was lost) against a small local server.
//
// Without STORAGE_EMULATOR_HOST the emulator tests are skipped locally; under CI=true they fail,
// unless TB_GCS_EMULATOR_SKIPPED says why scripts/test.sh could not start one (no Go >= 1.24).
//
// Every store gets a bucket of its own in the emulator. Objects are left behind: scripts/gcs-down.sh
// discards the emulator's folder.
#include "objstore/gcs_store.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
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

// ---------------------------------------------------------------------------------------------
// Environment: the emulator
// ---------------------------------------------------------------------------------------------
const Emulator kEmulator{"STORAGE_EMULATOR_HOST", "TB_GCS_EMULATOR_SKIPPED", "GCS emulator",
                         "Start one with `source <(scripts/gcs-up.sh)` (fake-gcs-server; needs Go >= 1.24), or run "
                         "scripts/test.sh."};

// A bucket nobody else uses. fake-gcs-server's operations cost time in proportion to the objects of
// their bucket, so every test has its own.
std::string NewBucketName() { return UniqueTestName("tb-test"); }

// A store on a new bucket in the emulator, under `prefix`.
Result<std::shared_ptr<GcsStore>> OpenOnEmulator(const std::string& prefix,
                                                 const std::function<void(GcsOptions&)>& tweak = {},
                                                 std::string bucket = NewBucketName()) {
  GcsOptions o;
  o.endpoint = gcs::EmulatorEndpoint(TestEnv("STORAGE_EMULATOR_HOST"));
  o.bucket = std::move(bucket);
  o.prefix = prefix;
  o.create_bucket = true;
  o.http.retry.base_delay = milliseconds(20);
  if (tweak) tweak(o);
  return GcsStore::Open(o);
}

// Every upload resumable, in 256 KiB chunks (the smallest GCS allows).
void SmallChunks(GcsOptions& o) {
  o.resumable_threshold = 1;
  o.chunk_size = 256 << 10;
}

// ---------------------------------------------------------------------------------------------
// The generic conformance suite on the emulator: default options (multipart uploads, and the
// suite's 20 MiB object as a resumable upload in two chunks), and every upload resumable.
// ---------------------------------------------------------------------------------------------
std::shared_ptr<ObjectStore> MakeEmptyGcsStore(const std::function<void(GcsOptions&)>& tweak) {
  return kEmulator.StoreForSuite([&]() -> Result<std::shared_ptr<ObjectStore>> {
    TB_ASSIGN_OR_RETURN(std::shared_ptr<GcsStore> store, OpenOnEmulator("conformance", tweak));
    return std::shared_ptr<ObjectStore>(std::move(store));
  });
}

INSTANTIATE_TEST_SUITE_P(Gcs, ObjectStoreConformance,
                         ::testing::Values(StoreFactory{"Gcs", [] { return MakeEmptyGcsStore({}); }},
                                           StoreFactory{"GcsResumable", [] { return MakeEmptyGcsStore(SmallChunks); }}),
                         StoreFactoryName());

// ---------------------------------------------------------------------------------------------
// GCS-specific, on the emulator
// ---------------------------------------------------------------------------------------------
TEST(GcsEmulatorTest, DescribeAndBucketChecks) {
  TB_REQUIRE_EMULATOR(kEmulator);
  const std::string bucket = NewBucketName();
  Result<std::shared_ptr<GcsStore>> store = OpenOnEmulator("tenant-a", {}, bucket);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ((*store)->Describe(), "gs://" + bucket + "/tenant-a");
  Result<std::shared_ptr<GcsStore>> missing = OpenOnEmulator("x", [](GcsOptions& o) {
    o.bucket = "tb-no-such-bucket-" + std::to_string(getpid());
    o.create_bucket = false;
  });
  EXPECT_EQ(missing.status().code(), StatusCode::kFailedPrecondition) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("does not exist"), std::string::npos);
}

TEST(GcsEmulatorTest, LargeObjectsGoResumableAndReadBackInRanges) {
  TB_REQUIRE_EMULATOR(kEmulator);
  Result<std::shared_ptr<GcsStore>> store = OpenOnEmulator("large", [](GcsOptions& o) {
    o.resumable_threshold = 1 << 20;
    o.chunk_size = 512 << 10;
  });
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string big = RandomBytes((3 << 20) + 12345, 7);  // 7 chunks, the last one short
  TB_ASSERT_OK((*store)->Put("big", big));
  TB_ASSERT_OK((*store)->Put("small", "below the threshold"));
  EXPECT_EQ((*store)->GetStats().resumable_uploads, 1u);
  ExpectReadsBack(**store, "big", big);
}

// 16 writers, each with its own store (own connections), race to create the same large object in
// resumable uploads of three chunks: GCS decides at each upload's final chunk, atomically.
TEST(GcsEmulatorTest, RacingResumableCreatorsHaveExactlyOneWinner) {
  TB_REQUIRE_EMULATOR(kEmulator);
  constexpr int kWriters = 16;
  const std::string bucket = NewBucketName();
  std::vector<std::shared_ptr<ObjectStore>> writers;
  for (int i = 0; i < kWriters; ++i) {
    Result<std::shared_ptr<GcsStore>> store = OpenOnEmulator("race", SmallChunks, bucket);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    writers.push_back(std::move(store).value());
  }
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ExpectOneCreateOnlyWinner(writers, "lease-" + std::to_string(round),
                              [&](int i) { return RandomBytes((600 << 10) + i, round * 100 + i); });
  }
}

// ---------------------------------------------------------------------------------------------
// Request shapes and recovery, against a local server
// ---------------------------------------------------------------------------------------------
// Serves 127.0.0.1:<port>: the LIST of Open answers an empty page; every other request goes to
// the handler.
class LocalGcs {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  explicit LocalGcs(Handler handler) : handler_(std::move(handler)) {
    auto route = [this](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "GET" && req.path == "/storage/v1/b/bkt/o" && req.get_param_value("maxResults") == "1") {
        res.set_content(R"({"kind":"storage#objects"})", "application/json");
        return;
      }
      handler_(req, res);
    };
    server_.Get(".*", route);
    server_.Put(".*", route);
    server_.Post(".*", route);
    server_.Delete(".*", route);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = test_sync::ServeInBackground(server_);
  }
  ~LocalGcs() {
    server_.stop();
    thread_.join();
  }
  std::string Origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  GcsOptions Options() const {
    GcsOptions o;
    o.endpoint = Origin();
    o.bucket = "bkt";
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

void JsonAnswer(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

// A resumable session as GCS keeps it: bytes must continue exactly where the persisted ones end;
// "bytes */TOTAL" asks how many are persisted (308 with Range, none without). One chunk can be made
// to fail after half of it was persisted, as when a connection breaks mid-body.
struct ResumableSession {
  std::mutex mu;
  std::string metadata_name, metadata_md5, upload_length, start_query;
  std::string persisted;
  uint64_t fail_at = UINT64_MAX;    // offset of the chunk that fails
  int failures_left = 0;            // how many times it fails
  bool persist_half = true;         // whether a failing chunk leaves half of its bytes persisted
  std::vector<std::string> ranges;  // Content-Range of every PUT, in order
  bool out_of_order = false;

  void Handle(const httplib::Request& req, httplib::Response& res, const std::string& origin) {
    std::lock_guard lock(mu);
    if (req.method == "POST" && req.path == "/upload/storage/v1/b/bkt/o") {
      nlohmann::json meta = nlohmann::json::parse(req.body);
      metadata_name = meta.value("name", "");
      metadata_md5 = meta.value("md5Hash", "");
      upload_length = req.get_header_value("X-Upload-Content-Length");
      start_query = req.get_param_value("uploadType") + "/" + req.get_param_value("ifGenerationMatch");
      res.set_header("Location", origin + "/session/abc?upload_id=abc");
      JsonAnswer(res, 200, {{"name", metadata_name}});
      return;
    }
    if (req.method != "PUT" || req.path != "/session/abc") {
      res.status = 400;
      return;
    }
    std::string range = req.get_header_value("Content-Range");
    ranges.push_back(range);
    auto answer_persisted = [&] {
      res.status = 308;
      if (!persisted.empty()) res.set_header("Range", "bytes=0-" + std::to_string(persisted.size() - 1));
    };
    uint64_t total = std::stoull(range.substr(range.find('/') + 1));
    if (range.starts_with("bytes */")) return answer_persisted();
    uint64_t first = std::stoull(range.substr(6, range.find('-') - 6));
    uint64_t last = std::stoull(range.substr(range.find('-') + 1));
    if (first != persisted.size() || req.body.size() != last - first + 1) {
      out_of_order = true;
      res.status = 400;
      return;
    }
    if (first == fail_at && failures_left > 0) {
      --failures_left;
      if (persist_half) persisted += req.body.substr(0, req.body.size() / 2);
      res.status = 503;
      return;
    }
    persisted += req.body;
    if (persisted.size() < total) return answer_persisted();
    JsonAnswer(res, 200, {{"name", metadata_name}, {"md5Hash", s3::Md5Base64(persisted)}});
  }
};

TEST(GcsLocalTest, ResumableUploadResumesFromWhatGcsHolds) {
  ResumableSession session;
  std::string origin;
  LocalGcs gcs([&](const httplib::Request& req, httplib::Response& res) { session.Handle(req, res, origin); });
  origin = gcs.Origin();
  session.fail_at = 512 << 10;
  session.failures_left = 1;
  GcsOptions o = gcs.Options();
  o.prefix = "p";
  SmallChunks(o);
  Result<std::shared_ptr<GcsStore>> store = GcsStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string data = RandomBytes((1 << 20) + 5, 3);
  TB_ASSERT_OK((*store)->Put("blocks/b1/data", data, PutMode::kCreateOnly));

  EXPECT_EQ(session.metadata_name, "p/blocks/b1/data");
  EXPECT_EQ(session.metadata_md5, s3::Md5Base64(data));
  EXPECT_EQ(session.upload_length, std::to_string(data.size()));
  EXPECT_EQ(session.start_query, "resumable/0");
  EXPECT_FALSE(session.out_of_order) << "a chunk did not start where the persisted bytes end";
  EXPECT_TRUE(session.persisted == data);
  const std::string total = "/" + std::to_string(data.size());
  EXPECT_EQ(session.ranges, (std::vector<std::string>{"bytes 0-262143" + total, "bytes 262144-524287" + total,
                                                      "bytes 524288-786431" + total,  // fails after half of it
                                                      "bytes *" + total,              // how much is there?
                                                      "bytes 655360-917503" + total, "bytes 917504-1048580" + total}));
  GcsStore::Stats stats = (*store)->GetStats();
  EXPECT_EQ(stats.resumable_uploads, 1u);
  EXPECT_EQ(stats.resumes, 1u);
}

TEST(GcsLocalTest, ResumableUploadGivesUpAfterMaxAttemptsFailures) {
  ResumableSession session;
  std::string origin;
  LocalGcs gcs([&](const httplib::Request& req, httplib::Response& res) { session.Handle(req, res, origin); });
  origin = gcs.Origin();
  session.fail_at = 0;
  session.failures_left = 100;
  session.persist_half = false;  // no progress at all
  GcsOptions o = gcs.Options();  // max_attempts 3
  SmallChunks(o);
  Result<std::shared_ptr<GcsStore>> store = GcsStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string data = RandomBytes(300 << 10, 1);
  Status s = (*store)->Put("k", data);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("503"), std::string::npos) << s.ToString();
  const std::string total = "/" + std::to_string(data.size());
  const std::string chunk = "bytes 0-262143" + total, query = "bytes *" + total;
  EXPECT_EQ(session.ranges, (std::vector<std::string>{chunk, query, chunk, query, chunk}));
  EXPECT_EQ((*store)->GetStats().resumable_uploads, 0u);
}

// A create-only upload whose first answer was lost (503 although GCS stored it): the retry gets
// 412, and the store reads the object's MD5 to tell its own upload from another writer's.
TEST(GcsLocalTest, LostAnswerOfACreateOnlyUploadIsRecognised) {
  for (bool ours : {true, false}) {
    std::atomic<int> uploads{0};
    std::string seen_query;
    LocalGcs gcs([&](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "POST" && req.path == "/upload/storage/v1/b/bkt/o") {
        seen_query = req.get_param_value("uploadType") + "/" + req.get_param_value("ifGenerationMatch");
        if (uploads++ == 0) {
          res.status = 503;  // stored, but the answer is lost
        } else {
          JsonAnswer(
              res, 412,
              {{"error",
                {{"code", 412}, {"message", "Precondition failed"}, {"errors", {{{"reason", "conditionNotMet"}}}}}}});
        }
        return;
      }
      if (req.method == "GET" && req.path == "/storage/v1/b/bkt/o/lease" &&
          req.get_param_value("fields") == "md5Hash") {
        JsonAnswer(res, 200, {{"md5Hash", s3::Md5Base64(ours ? "me" : "someone else")}});
        return;
      }
      res.status = 400;
    });
    Result<std::shared_ptr<GcsStore>> store = GcsStore::Open(gcs.Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    Status s = (*store)->Put("lease", "me", PutMode::kCreateOnly);
    EXPECT_EQ(seen_query, "multipart/0");
    EXPECT_EQ(uploads.load(), 2);
    if (ours) {
      EXPECT_TRUE(s.ok()) << s.ToString();
    } else {
      EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << s.ToString();
    }
  }
}

TEST(GcsLocalTest, RequestShapes) {
  std::mutex mu;
  std::vector<std::string> seen;  // "METHOD target"
  std::string upload_body, upload_type, range;
  LocalGcs gcs([&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    seen.push_back(req.method + " " + req.target);
    if (req.method == "POST") {
      upload_body = req.body;
      upload_type = req.get_header_value("Content-Type");
      JsonAnswer(res, 200, {{"name", "x"}});
    } else if (req.method == "GET" && req.path == "/storage/v1/b/bkt/o") {
      if (req.get_param_value("pageToken").empty()) {
        JsonAnswer(res, 200, {{"items", {{{"name", "p/a b"}, {"size", "3"}}}}, {"nextPageToken", "tok/1"}});
      } else {
        JsonAnswer(res, 200, {{"items", {{{"name", "p/c"}, {"size", "12345678901"}}}}});
      }
    } else if (req.method == "GET" && req.has_param("alt")) {
      range = req.get_header_value("Range");
      res.set_content("abcdef", "application/octet-stream");  // httplib answers the Range with 206
    } else if (req.method == "DELETE") {
      res.status = req.path.ends_with("gone") ? 404 : 204;
    } else {
      res.status = 400;
    }
  });
  GcsOptions o = gcs.Options();
  o.prefix = "p";
  Result<std::shared_ptr<GcsStore>> store = GcsStore::Open(o);
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
  EXPECT_EQ(page->next_token, "tok/1");
  page = (*store)->List("", page->next_token, 2);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->objects[0].size, 12345678901u);
  TB_ASSERT_OK((*store)->Delete({"x", "gone"}));

  std::lock_guard lock(mu);
  // The object name is one path segment: '/' and ' ' and '+' percent-encoded.
  EXPECT_NE(std::find(seen.begin(), seen.end(), "GET /storage/v1/b/bkt/o/p%2Fdir%2Fa%20b%2Bc?alt=media"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(),
                      "GET /storage/v1/b/bkt/o?maxResults=2&fields=items%28name%2Csize%29%2CnextPageToken&prefix=p%2F"
                      "&pageToken=tok%2F1"),
            seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "DELETE /storage/v1/b/bkt/o/p%2Fx"), seen.end());
  // A multipart/related body: the metadata (name and MD5), then the bytes.
  ASSERT_TRUE(upload_type.starts_with("multipart/related; boundary=")) << upload_type;
  std::string boundary = upload_type.substr(upload_type.find('=') + 1);
  EXPECT_TRUE(upload_body.starts_with("--" + boundary + "\r\nContent-Type: application/json"));
  EXPECT_NE(upload_body.find(R"("name":"p/dir/a b+c")"), std::string::npos) << upload_body;
  EXPECT_NE(upload_body.find(R"("md5Hash":")" + s3::Md5Base64("xyz") + "\""), std::string::npos);
  EXPECT_TRUE(upload_body.ends_with("\r\n\r\nxyz\r\n--" + boundary + "--\r\n")) << upload_body;
}

TEST(GcsLocalTest, HelperParsing) {
  EXPECT_EQ(gcs::EmulatorEndpoint("127.0.0.1:4443"), "http://127.0.0.1:4443");
  EXPECT_EQ(gcs::EmulatorEndpoint("http://localhost:9000/"), "http://localhost:9000");
  EXPECT_EQ(gcs::EmulatorEndpoint("https://gcs.example"), "https://gcs.example");
  std::string range = "bytes=0-262143";
  EXPECT_EQ(gcs::PersistedBytes(&range).value(), 262144u);
  EXPECT_EQ(gcs::PersistedBytes(nullptr).value(), 0u);
  std::string bad = "bytes=5-9";
  EXPECT_FALSE(gcs::PersistedBytes(&bad).ok());
  GcsOptions o;
  o.bucket = "b";
  o.chunk_size = 100000;  // not a multiple of 256 KiB
  EXPECT_EQ(GcsStore::Open(o).status().code(), StatusCode::kInvalidArgument);
  o.chunk_size = 256 << 10;
  o.endpoint = "ftp://x";
  EXPECT_EQ(GcsStore::Open(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tb::objstore
