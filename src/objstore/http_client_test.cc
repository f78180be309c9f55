// Tests of the shared HTTP layer (http_client.h): its default classification and its use of the
// stores' retry policy (retry_policy_test.cc tests the policy itself), against a local httplib server.
#include "objstore/http_client.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>
#include <vector>

#include "util/test_http_server.h"

namespace tb::objstore::http {
namespace {

using std::chrono::milliseconds;

TEST(HttpClientTest, RetryableStatuses) {
  for (long s : {408L, 429L, 500L, 502L, 503L, 504L}) EXPECT_TRUE(RetryableHttpStatus(s)) << s;
  for (long s : {200L, 304L, 400L, 403L, 404L, 409L, 412L, 416L, 501L}) EXPECT_FALSE(RetryableHttpStatus(s)) << s;
}

class LocalServer {
 public:
  explicit LocalServer(httplib::Server::Handler handler) {
    server_.Get(".*", handler);
    server_.Put(".*", handler);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = test_sync::ServeInBackground(server_);
  }
  ~LocalServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
};

ClientOptions FastRetries(int max_attempts, std::atomic<int>* retries) {
  ClientOptions o;
  o.service = "test";
  o.retry.max_attempts = max_attempts;
  o.retry.base_delay = milliseconds(1);
  o.retry.max_delay = milliseconds(5);
  o.retry.on_retry = [retries](const RetryEvent&) { ++*retries; };
  return o;
}

TEST(HttpClientTest, RetriesTransientAnswersThenReturnsTheAnswer) {
  std::atomic<int> calls{0};
  LocalServer server([&](const httplib::Request& req, httplib::Response& res) {
    if (calls++ < 2) {
      res.status = 503;
      return;
    }
    res.set_header("X-Echo", req.get_header_value("X-Test"));
    res.set_content(req.body.empty() ? "empty" : req.body, "text/plain");
  });
  std::atomic<int> retries{0};
  auto client = HttpClient::Create(FastRetries(5, &retries));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Request req;
  req.method = "PUT";
  req.url = server.Url("/x");
  req.headers = {"X-Test: yes"};
  req.body = "payload";
  req.op = "PUT x";
  Result<Response> r = (*client)->Call(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "payload");
  EXPECT_EQ(r->attempts, 3);
  ASSERT_NE(r->Header("x-echo"), nullptr);
  EXPECT_EQ(*r->Header("x-echo"), "yes");
  EXPECT_EQ(retries.load(), 2);
  EXPECT_EQ((*client)->GetStats().requests, 3u);
}

TEST(HttpClientTest, ClientErrorsComeBackAtOnceAndTransientOnesGiveUp) {
  LocalServer server([&](const httplib::Request& req, httplib::Response& res) {
    res.status = req.path == "/missing" ? 404 : 500;
    res.set_content("nope", "text/plain");
  });
  std::atomic<int> retries{0};
  auto client = HttpClient::Create(FastRetries(3, &retries));
  ASSERT_TRUE(client.ok());
  Request missing;
  missing.url = server.Url("/missing");
  missing.op = "GET missing";
  Result<Response> r = (*client)->Call(missing);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(retries.load(), 0);

  Request broken;
  broken.url = server.Url("/broken");
  broken.op = "GET broken";
  r = (*client)->Call(broken);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "test GET broken: 500: nope (after 3 attempts)");
  EXPECT_EQ(retries.load(), 2);
}

// The client waits between attempts through its RetryPolicy (the sleep hook, the full-jitter
// caps) and retries only what the policy retries: a classifier's non-retryable error ends the call.
TEST(HttpClientTest, AttemptsFollowTheStoresRetryPolicy) {
  std::atomic<int> calls{0};
  LocalServer server([&](const httplib::Request&, httplib::Response& res) { res.status = calls++ < 3 ? 503 : 200; });
  std::atomic<int> retries{0};
  ClientOptions o = FastRetries(5, &retries);
  o.retry.base_delay = milliseconds(10);
  o.retry.max_delay = milliseconds(25);
  std::vector<milliseconds> sleeps;
  o.retry.sleep = [&](milliseconds d) { sleeps.push_back(d); };
  auto client = HttpClient::Create(o);
  ASSERT_TRUE(client.ok());
  Request req;
  req.url = server.Url("/x");
  req.op = "GET x";
  Result<Response> r = (*client)->Call(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->attempts, 4);
  ASSERT_EQ(sleeps.size(), 3u);
  for (size_t i = 0; i < sleeps.size(); ++i) EXPECT_LE(sleeps[i], std::min(milliseconds(10 << i), milliseconds(25)));
  EXPECT_EQ((*client)->GetStats().retries, 3u);

  calls = 0;
  sleeps.clear();
  r = (*client)->Call(req, [](Response& resp) {
    return resp.status == 503 ? Status::FailedPrecondition("not worth another attempt") : Status::Ok();
  });
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(sleeps.empty());
}

TEST(HttpClientTest, BadOptionsAreRefused) {
  ClientOptions o;
  o.service = "test";
  o.retry.max_attempts = 0;
  EXPECT_EQ(HttpClient::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.retry.max_attempts = 1;
  o.max_connections = 0;
  EXPECT_EQ(HttpClient::Create(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tb::objstore::http
