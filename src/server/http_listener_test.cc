// The HTTP door's transport over real sockets on 127.0.0.1: deadlines, the connection cap, body
// limits counted encoded and decoded, 100-continue, HEAD and compressed answers.
#include "server/http_listener.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <string_view>
#include <thread>

#include "util/test_zlib.h"

namespace tb::server {
namespace {

using std::chrono::milliseconds;

// A client socket that speaks raw HTTP/1.1, so that a test can send what no library would.
// Whether `got` holds a whole answer with a Content-Length (every answer of the routes here has one).
bool IsWholeResponse(std::string_view got) {
  const size_t header_end = got.find("\r\n\r\n");
  if (header_end == std::string_view::npos) return false;
  constexpr std::string_view kLength = "\r\nContent-Length: ";
  const size_t at = got.substr(0, header_end).find(kLength);
  if (at == std::string_view::npos) return false;
  const size_t body_size = std::stoul(std::string(got.substr(at + kLength.size(), header_end - at)));
  return got.size() >= header_end + 4 + body_size;
}

class RawClient {
 public:
  explicit RawClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~RawClient() { close(fd_); }
  bool connected() const { return connected_; }
  void Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Everything received until the peer closes or `wait` passes with nothing new; "" if closed at once.
  std::string Receive(milliseconds wait, size_t enough = SIZE_MAX) {
    return ReceiveUntil(wait, [enough](const std::string& got) { return got.size() >= enough; });
  }
  // One whole answer: its header and as many body bytes as its Content-Length says, without waiting for
  // the peer to close; whatever arrived if the peer closes or `wait` passes with nothing new first.
  std::string ReceiveResponse(milliseconds wait) { return ReceiveUntil(wait, IsWholeResponse); }
  bool closed() const { return closed_; }

 private:
  // What arrives until `done` says it is enough, the peer closes, or `wait` passes with nothing new.
  std::string ReceiveUntil(milliseconds wait, const std::function<bool(const std::string&)>& done) {
    std::string got;
    char buffer[65536];
    pollfd p{fd_, POLLIN, 0};
    while (!done(got) && poll(&p, 1, static_cast<int>(wait.count())) == 1) {
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      got.append(buffer, static_cast<size_t>(n));
    }
    return got;
  }
  int fd_;
  bool connected_ = false;
  bool closed_ = false;
};

const char* BodyReadName(BodyRead read) {
  switch (read) {
    case BodyRead::kComplete: return "complete";
    case BodyRead::kTooLarge: return "too-large";
    case BodyRead::kMalformed: return "malformed";
  }
  return "?";
}

class HttpListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Get("/hello/([a-z]+)", [](const HttpRequest& req, HttpResponse& res) {
      res.SetContent("hello " + req.matches[1] + " " + req.Param("x"), "text/plain");
      res.SetHeader("Vary", "Origin");  // as the CORS answers do; the listener adds to it
    });
    router_.Get("/big", [](const HttpRequest&, HttpResponse& res) {
      res.SetContent("[" + std::string(8000, '7') + "]", "application/json");
    });
    // Answers what became of the body: "<state> <decoded size>".
    router_.Post("/echo", [](const HttpRequest& req, HttpResponse& res) {
      res.SetContent(std::string(BodyReadName(req.body_read)) + " " + std::to_string(req.body.size()), "text/plain");
    });
  }
  void TearDown() override {
    if (listener_ != nullptr) listener_->Stop();
  }
  int Serve(HttpListenerOptions options) {
    listener_ = std::make_unique<HttpListener>(
        &router_, [](const HttpRequest&, HttpResponse&) { return false; }, options);
    EXPECT_TRUE(listener_->Start("127.0.0.1", 0).ok());
    return listener_->port();
  }
  std::string Post(int port, const std::string& headers, std::string_view body) {
    RawClient client(port);
    client.Send("POST /echo HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n");
    client.Send(body);
    return client.ReceiveResponse(milliseconds(3000));
  }

  HttpRouter router_;
  std::unique_ptr<HttpListener> listener_;
};

TEST_F(HttpListenerTest, ServesRoutesOnAKeptAliveConnection) {
  const int port = Serve({});
  RawClient client(port);
  client.Send("GET /hello/world?x=a%20b HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(client.Receive(milliseconds(2000), 1).find("hello world a b"), std::string::npos);
  client.Send("GET /hello/again?x=%2B+ HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string second = client.Receive(milliseconds(2000), 1);
  EXPECT_NE(second.find("hello again +"), std::string::npos) << second;
  client.Send("GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string missing = client.Receive(milliseconds(2000), 1);
  EXPECT_TRUE(missing.starts_with("HTTP/1.1 404")) << missing;
  EXPECT_NE(missing.find("no such endpoint"), std::string::npos);
}

TEST_F(HttpListenerTest, AHeaderThatDoesNotArriveInTimeEndsTheConnectionAndOthersAreServed) {
  HttpListenerOptions options;
  options.header_timeout = milliseconds(300);
  const int port = Serve(options);
  RawClient slow(port);
  slow.Send("GET /hello/slow HTTP/1.1\r\nHost: t\r\n");  // the blank line never comes
  RawClient quick(port);
  quick.Send("GET /hello/quick HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(quick.Receive(milliseconds(2000), 1).find("hello quick"), std::string::npos);
  EXPECT_EQ(slow.Receive(milliseconds(5000)), "");
  EXPECT_TRUE(slow.closed());
}

TEST_F(HttpListenerTest, BeyondMaxConnectionsANewOneGets503NamingTheLimit) {
  HttpListenerOptions options;
  options.max_connections = 2;
  const int port = Serve(options);
  RawClient first(port), second(port);
  first.Send("GET /hello/a HTTP/1.1\r\nHost: t\r\n\r\n");
  second.Send("GET /hello/b HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_NE(first.Receive(milliseconds(2000), 1).find("hello a"), std::string::npos);
  ASSERT_NE(second.Receive(milliseconds(2000), 1).find("hello b"), std::string::npos);
  RawClient third(port);
  const std::string refused = third.Receive(milliseconds(2000));
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503")) << refused;
  EXPECT_NE(refused.find("http.max_connections (2)"), std::string::npos) << refused;
}

TEST_F(HttpListenerTest, BodiesAreCountedEncodedAndDecodedAgainstTheLimit) {
  HttpListenerOptions options;
  options.max_request_bytes = 1000;
  const int port = Serve(options);
  EXPECT_NE(Post(port, "Content-Length: 1000\r\n", std::string(1000, 'a')).find("complete 1000"), std::string::npos);
  EXPECT_NE(Post(port, "Content-Length: 1001\r\n", std::string(1001, 'a')).find("too-large 0"), std::string::npos);
  // Chunked: counted as the chunks come.
  const std::string chunk = std::string(600, 'c');
  EXPECT_NE(Post(port, "Transfer-Encoding: chunked\r\n", "258\r\n" + chunk + "\r\n258\r\n" + chunk + "\r\n0\r\n\r\n")
                .find("too-large 0"),
            std::string::npos);
  EXPECT_NE(Post(port, "Transfer-Encoding: chunked\r\n", "258\r\n" + chunk + "\r\n0\r\n\r\n").find("complete 600"),
            std::string::npos);
  // gzip: small on the wire, counted as it inflates; the bomb is under the limit on the wire and 100 times
  // over it decoded.
  const std::string small = test_zlib::Gzip(std::string(900, 'z')), bomb = test_zlib::Gzip(std::string(100'000, 'z'));
  EXPECT_NE(Post(port, "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(small.size()) + "\r\n", small)
                .find("complete 900"),
            std::string::npos);
  ASSERT_LT(bomb.size(), 1000u);
  EXPECT_NE(Post(port, "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(bomb.size()) + "\r\n", bomb)
                .find("too-large 0"),
            std::string::npos);
  EXPECT_NE(Post(port, "Content-Encoding: br\r\nContent-Length: 3\r\n", "abc").find("malformed 0"), std::string::npos);
  EXPECT_NE(Post(port, "Content-Encoding: gzip\r\nContent-Length: 3\r\n", "abc").find("malformed 0"),
            std::string::npos);
}

TEST_F(HttpListenerTest, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  const int port = Serve({});
  RawClient client(port);
  client.Send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  const std::string go_on = client.Receive(milliseconds(2000), 1);
  EXPECT_TRUE(go_on.starts_with("HTTP/1.1 100")) << go_on;
  client.Send("hello");
  EXPECT_NE(client.Receive(milliseconds(2000), 1).find("complete 5"), std::string::npos);
}

TEST_F(HttpListenerTest, AnswersAreGzippedWhenAcceptedAndHeadHasNoBody) {
  const int port = Serve({});
  RawClient client(port);
  client.Send("GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: br, gzip;q=0.5\r\n\r\n");
  const std::string zipped = client.ReceiveResponse(milliseconds(1000));
  EXPECT_NE(zipped.find("Content-Encoding: gzip"), std::string::npos) << zipped.substr(0, 300);
  EXPECT_LT(zipped.size(), 1000u);
  RawClient small(port);  // small answers too, so that the encoding depends on the request alone
  small.Send("GET /hello/x HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n");
  const std::string small_zipped = small.ReceiveResponse(milliseconds(1000));
  EXPECT_NE(small_zipped.find("Content-Encoding: gzip"), std::string::npos) << small_zipped;
  EXPECT_NE(small_zipped.find("Vary: Accept-Encoding"), std::string::npos) << small_zipped;
  EXPECT_NE(small_zipped.find("Vary: Origin"), std::string::npos) << small_zipped;
  RawClient plain(port);
  plain.Send("GET /big HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip;q=0\r\n\r\n");
  EXPECT_GT(plain.ReceiveResponse(milliseconds(1000)).size(), 8000u);
  RawClient head(port);
  head.Send("HEAD /big HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string headers = head.Receive(milliseconds(1000));
  EXPECT_NE(headers.find("Content-Length: 8002"), std::string::npos) << headers;
  EXPECT_TRUE(headers.ends_with("\r\n\r\n")) << headers;
}

TEST_F(HttpListenerTest, AnOversizedHeaderGets431) {
  HttpListenerOptions options;
  options.max_header_bytes = 4096;
  const int port = Serve(options);
  RawClient client(port);
  client.Send("GET /hello/a HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(8000, 'b') + "\r\n\r\n");
  const std::string answer = client.Receive(milliseconds(2000), 1);
  EXPECT_TRUE(answer.starts_with("HTTP/1.1 431")) << answer.substr(0, 200);
  EXPECT_NE(answer.find("http.max_header_size"), std::string::npos);
}

// While a route runs it can tell whether its client is still there: not while the client waits,
// yes once the client has closed its connection.
TEST_F(HttpListenerTest, ARouteSeesItsClientGo) {
  std::promise<bool> started;  // whether the client looked present when the route began
  std::promise<bool> noticed;  // whether the route saw it go within 10 s
  router_.Get("/wait", [&](const HttpRequest& req, HttpResponse& res) {
    started.set_value(req.client_gone && !req.client_gone());
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool gone = false;
    while (!gone && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(5));
      gone = req.client_gone();
    }
    noticed.set_value(gone);
    res.SetContent("late", "text/plain");
  });
  const int port = Serve({});
  {
    RawClient client(port);
    client.Send("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_TRUE(started.get_future().get()) << "the waiting client looked gone";
  }  // the client closes its socket
  EXPECT_TRUE(noticed.get_future().get()) << "the route never saw the client go";
  RawClient next(port);
  next.Send("GET /hello/after HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(next.Receive(milliseconds(2000), 1).find("hello after"), std::string::npos);
}

}  // namespace
}  // namespace tb::server
