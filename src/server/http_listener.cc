#include "server/http_listener.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <condition_variable>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "util/capped_decoder.h"
#include "util/text.h"

namespace tb::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The I/O threads only move bytes and parse; the routes run on the workers.
constexpr int kIoThreads = 2;

// How long Stop waits for answers in flight, and a closing connection for the client's last bytes.
constexpr auto kStopGrace = std::chrono::seconds(5);
constexpr auto kLingerOnClose = std::chrono::seconds(2);

// Whether the peer of `fd` has closed or reset the connection, reading nothing it sent. A client
// that half-closes after its request counts as gone, as with most servers.
bool PeerClosed(int fd) {
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

bool IsParseError(const beast::error_code& ec) {
  return &ec.category() == &bhttp::make_error_code(bhttp::error::bad_target).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

// Whether Accept-Encoding lets the answer be gzip: "gzip" or "*" listed without q=0.
bool AcceptsGzip(std::string_view accept_encoding) {
  while (!accept_encoding.empty()) {
    const size_t comma = accept_encoding.find(',');
    const std::string coding = AsciiLowercase(accept_encoding.substr(0, comma));
    accept_encoding = comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    const size_t semicolon = coding.find(';');
    const std::string_view name = TrimAsciiWhitespace(std::string_view(coding).substr(0, semicolon));
    if (name != "gzip" && name != "*") continue;
    if (semicolon == std::string::npos) return true;
    std::string_view q = TrimAsciiWhitespace(std::string_view(coding).substr(semicolon + 1));
    if (!q.starts_with("q=")) return true;
    q.remove_prefix(2);
    return q.find_first_not_of("0.") != std::string_view::npos;
  }
  return false;
}

bool Compressible(std::string_view content_type) {
  const std::string type = AsciiLowercase(content_type);
  return type.starts_with("text/") || type.find("json") != std::string::npos;
}

std::optional<std::string> Gzip(std::string_view data) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return std::nullopt;
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

// A refusal the listener makes itself, as the routes' JSON errors look: google.rpc.Status fields.
void SendListenerError(HttpResponse& res, int http_status, StatusCode code, std::string_view message) {
  res.status = http_status;
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) escaped += c;
  }
  res.SetContent("{\"code\":" + std::to_string(static_cast<int>(code)) + ",\"message\":\"" + escaped + "\"}",
                 "application/json");
}

}  // namespace

class HttpListener::Impl {
 public:
  Impl(const HttpRouter* router, PreRoute pre_route, HttpListenerOptions options, const TlsMaterial* tls)
      : router_(router), pre_route_(std::move(pre_route)), options_(options), tls_(tls), workers_(options.workers) {}
  ~Impl() { Stop(); }

  Status Start(const std::string& host, int port);
  int port() const { return port_; }
  void Stop();

  // What every connection shares.
  const HttpRouter* const router_;
  const PreRoute pre_route_;
  const HttpListenerOptions options_;
  const TlsMaterial* const tls_;
  std::atomic<bool> stopping_{false};

  // The open connections, for the cap and for Stop. A session adds itself when it starts and
  // leaves in its destructor.
  class Session;
  void Enter(const std::shared_ptr<Session>& session);
  void Leave(Session* session);

  void Accept();
  void RefuseTooMany(tcp::socket socket);

  std::mutex sessions_mu_;
  std::condition_variable sessions_gone_;
  std::map<Session*, std::weak_ptr<Session>> sessions_;  // guarded by sessions_mu_
  std::atomic<uint32_t> connections_{0};
  int port_ = 0;
  bool started_ = false;

  // Declared after what sessions use: pending handlers hold sessions, which Leave() when the
  // thread pool and the io_context destroy them.
  std::optional<ssl::context> ssl_context_;
  asio::thread_pool workers_;
  asio::io_context ioc_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  tcp::acceptor acceptor_{ioc_};
  std::vector<std::thread> io_threads_;
};

// One connection, plain or TLS, from accept to close: read a request, let the route answer it on a
// worker, write the answer, and again while the connection is kept alive. Every step but the route
// runs on the connection's strand.
class HttpListener::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  virtual ~Session() = default;
  virtual void Start() = 0;
  // From any thread, for Stop: closes the connection unless a route or its answer is under way
  // (those close it once the answer is out).
  virtual void CloseIfIdle() = 0;
};

namespace {

template <class Stream>
class Connection final : public HttpListener::Impl::Session {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Connection(HttpListener::Impl& server, tcp::socket socket, ssl::context* tls)
      : server_(server), stream_(MakeStream(std::move(socket), tls)) {}
  ~Connection() override { server_.Leave(this); }

  void Start() override {
    // The first header must arrive within header_timeout of the connection's start, TLS included.
    Lowest().expires_after(server_.options_.header_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server, [self = Self()](beast::error_code ec) {
        if (ec) return self->Close();
        self->ReadHeader();
      });
    } else {
      ReadHeader();
    }
  }

  void CloseIfIdle() override {
    asio::dispatch(stream_.get_executor(), [self = Self()] {
      if (!self->busy_) self->Lowest().close();
    });
  }

 private:
  static Stream MakeStream(tcp::socket socket, ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      (void)tls;
      return Stream(std::move(socket));
    }
  }
  std::shared_ptr<Connection> Self() { return std::static_pointer_cast<Connection>(shared_from_this()); }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  const HttpListenerOptions& options() const { return server_.options_; }

  // A kept-alive connection waits up to idle_timeout for the next request's first byte; from it,
  // the header has header_timeout.
  void AwaitNextRequest() {
    if (buffer_.size() > 0) {
      Lowest().expires_after(options().header_timeout);
      return ReadHeader();
    }
    Lowest().expires_after(options().idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = Self()](beast::error_code ec, size_t n) {
      if (ec) return self->Close();
      self->buffer_.commit(n);
      self->Lowest().expires_after(self->options().header_timeout);
      self->ReadHeader();
    });
  }

  // Reads the header under the deadline already set.
  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(options().max_header_bytes);
    // The body is counted here as it arrives (OnBody), not by the parser, so that its decoded size
    // counts too and the route can answer a refusal in its own form. (Not boost::none: Beast 1.74
    // compares a Content-Length against an empty limit as larger.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = Self()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    request_ = HttpRequest();
    response_ = HttpResponse();
    keep_alive_ = false;
    head_ = false;
    if (ec == bhttp::error::header_limit) {
      SendListenerError(response_, 431, StatusCode::kInvalidArgument,
                        "the request header is larger than http.max_header_size (" +
                            std::to_string(options().max_header_bytes) + " bytes)");
      return Reply();
    }
    if (IsParseError(ec)) {
      SendListenerError(response_, 400, StatusCode::kInvalidArgument, "malformed request: " + ec.message());
      return Reply();
    }
    if (ec) return Close();  // the client left, or its header did not come in time

    auto& message = parser_->get();
    request_.method = std::string(message.method_string());
    head_ = message.method() == bhttp::verb::head;
    keep_alive_ = message.keep_alive();
    for (const auto& field : message) request_.headers.emplace(field.name_string(), field.value());
    if constexpr (kTls) request_.client_certificate_verified = ClientCertificateVerified(stream_.native_handle());
    accepts_gzip_ = AcceptsGzip(request_.Header("Accept-Encoding"));
    const bool has_body = !parser_->is_done();

    const std::string_view target(message.target().data(), message.target().size());
    const size_t question = target.find('?');
    auto path = PercentDecode(target.substr(0, question), false);
    auto params = ParseQueryString(question == std::string_view::npos ? "" : target.substr(question + 1));
    if (!path.ok() || !params.ok() || !target.starts_with('/')) {
      keep_alive_ = keep_alive_ && !has_body;
      SendListenerError(response_, 400, StatusCode::kInvalidArgument,
                        "malformed request target: " + (!path.ok()     ? path.status().message()
                                                        : !params.ok() ? params.status().message()
                                                                       : "it must start with '/'"));
      return Reply();
    }
    request_.path = std::move(*path);
    request_.params = std::move(*params);

    if (server_.pre_route_(request_, response_)) {
      keep_alive_ = keep_alive_ && !has_body;  // its body stays unread
      return Reply();
    }
    route_ = server_.router_->Find(request_.method, request_.path, &request_.matches);
    if (route_ == nullptr) {
      keep_alive_ = keep_alive_ && !has_body;
      SendListenerError(response_, 404, StatusCode::kNotFound,
                        "no such endpoint: " + request_.method + " " + request_.path);
      return Reply();
    }
    if (!has_body) return Dispatch();
    StartBody();
  }

  void StartBody() {
    const uint64_t max = options().max_request_bytes;
    auto coding = ParseContentCoding(request_.Header("Content-Encoding"));
    if (!coding.ok()) return RefuseBody(BodyRead::kMalformed);
    const auto length = parser_->content_length();
    if (length.has_value() && *length > max) return RefuseBody(BodyRead::kTooLarge);
    if (length.has_value() && *coding == ContentCoding::kIdentity) request_.body.reserve(*length);
    decoder_.emplace(*coding, max, &request_.body);
    encoded_bytes_ = 0;
    Lowest().expires_after(options().body_timeout);
    if (AsciiLowercase(request_.Header("Expect")) != "100-continue") return ReadBody();
    continue_ = bhttp::response<bhttp::empty_body>(bhttp::status::continue_, 11);
    bhttp::async_write(stream_, continue_, [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      self->ReadBody();
    });
  }

  void ReadBody() {
    auto& body = parser_->get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    bhttp::async_read_some(stream_, buffer_, *parser_,
                           [self = Self()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ec == bhttp::error::need_buffer) ec = {};
    if (IsParseError(ec)) return RefuseBody(BodyRead::kMalformed);
    if (ec) return Close();  // the client left, or the body did not come in time
    const size_t got = chunk_.size() - parser_->get().body().size;
    encoded_bytes_ += got;
    if (encoded_bytes_ > options().max_request_bytes) return RefuseBody(BodyRead::kTooLarge);
    if (Status s = decoder_->Write(std::string_view(chunk_.data(), got)); !s.ok())
      return RefuseBody(s.code() == StatusCode::kResourceExhausted ? BodyRead::kTooLarge : BodyRead::kMalformed);
    if (!parser_->is_done()) return ReadBody();
    if (Status s = decoder_->Finish(); !s.ok()) return RefuseBody(BodyRead::kMalformed);
    decoder_.reset();
    Dispatch();
  }

  // The route is told why it has no body. What is left of the body is never read, so the
  // connection closes after the answer.
  void RefuseBody(BodyRead why) {
    decoder_.reset();
    request_.body.clear();
    request_.body.shrink_to_fit();
    request_.body_read = why;
    keep_alive_ = false;
    Dispatch();
  }

  // Runs the route on a worker, then writes its answer from the strand.
  void Dispatch() {
    busy_ = true;
    Lowest().expires_never();  // a route may take long; the client has nothing to send meanwhile
    // Nothing reads or closes the socket while the route runs, so the route may look at it.
    request_.client_gone = [fd = Lowest().socket().native_handle()] { return PeerClosed(fd); };
    asio::post(server_.workers_, [self = Self()] {
      self->RunRoute();
      self->BuildAnswer();
      asio::post(self->stream_.get_executor(), [self] { self->Write(); });
    });
  }

  void RunRoute() {
    if (!route_->takes_body && request_.body_read == BodyRead::kTooLarge) {
      SendListenerError(response_, 413, StatusCode::kInvalidArgument, BodyTooLargeMessage(options().max_request_bytes));
      return;
    }
    if (!route_->takes_body && request_.body_read == BodyRead::kMalformed) {
      SendListenerError(response_, 400, StatusCode::kInvalidArgument, kMalformedBodyMessage);
      return;
    }
    try {
      route_->handler(request_, response_);
    } catch (const std::exception& e) {
      spdlog::error("HTTP {} {} failed: {}", request_.method, request_.path, e.what());
      response_ = HttpResponse();
      SendListenerError(response_, 500, StatusCode::kInternal, std::string("internal error: ") + e.what());
    }
  }

  // An answer the strand made itself (pre-routing, 404, refusals): small, built in place.
  void Reply() {
    busy_ = true;
    BuildAnswer();
    Write();
  }

  void BuildAnswer() {
    answer_ = bhttp::response<bhttp::string_body>();
    answer_.version(11);
    answer_.result(static_cast<unsigned>(response_.status));
    bool close = false;
    for (const auto& [name, value] : response_.headers) {
      if (beast::iequals(name, "Content-Length") || beast::iequals(name, "Transfer-Encoding")) continue;
      if (beast::iequals(name, "Connection")) {
        close = close || beast::iequals(value, "close");
        continue;
      }
      answer_.insert(name, value);
    }
    std::string body = std::move(response_.body);
    const auto type = response_.headers.find("Content-Type");
    // Every text or JSON answer is gzipped when the client accepts it, small ones too, so that
    // whether it is depends on the request alone, as Vary says (added to the route's own Vary).
    if (!body.empty() && type != response_.headers.end() && Compressible(type->second) &&
        !response_.headers.contains("Content-Encoding")) {
      answer_.insert(bhttp::field::vary, "Accept-Encoding");
      if (accepts_gzip_) {
        if (auto gzipped = Gzip(body)) {
          body = std::move(*gzipped);
          answer_.set(bhttp::field::content_encoding, "gzip");
        }
      }
    }
    answer_.keep_alive(keep_alive_ && !close && !server_.stopping_);
    if (head_) {
      answer_.content_length(body.size());
    } else {
      answer_.body() = std::move(body);
      answer_.prepare_payload();
    }
  }

  void Write() {
    Lowest().expires_after(options().write_timeout);
    bhttp::async_write(stream_, answer_, [self = Self()](beast::error_code ec, size_t) {
      self->busy_ = false;
      if (ec || !self->answer_.keep_alive() || self->server_.stopping_) return self->Close();
      self->answer_ = {};
      self->request_ = HttpRequest();
      self->AwaitNextRequest();
    });
  }

  // Ends the connection: stops sending, then reads what the client still sends for a moment, so
  // that an answer written before a body was refused reaches it instead of being lost to a reset.
  void Close() {
    beast::error_code ignored;
    if constexpr (kTls) {
      Lowest().expires_after(kLingerOnClose);
      stream_.async_shutdown([self = Self()](beast::error_code) {
        beast::error_code ignored;
        self->Lowest().socket().close(ignored);
      });
    } else {
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
      Lowest().expires_after(kLingerOnClose);
      Drain();
    }
  }

  void Drain() {
    Lowest().async_read_some(asio::buffer(chunk_), [self = Self()](beast::error_code ec, size_t) {
      if (!ec) return self->Drain();
      beast::error_code ignored;
      self->Lowest().socket().close(ignored);
    });
  }

  HttpListener::Impl& server_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> parser_;
  std::optional<CappedDecoder> decoder_;
  uint64_t encoded_bytes_ = 0;
  HttpRequest request_;
  HttpResponse response_;
  const HttpRouter::Route* route_ = nullptr;
  bool keep_alive_ = false;
  bool head_ = false;
  bool accepts_gzip_ = false;
  bool busy_ = false;  // a route or its answer is under way
  bhttp::response<bhttp::empty_body> continue_;
  bhttp::response<bhttp::string_body> answer_;
  std::array<char, 64 << 10> chunk_;
};

}  // namespace

void HttpListener::Impl::Enter(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(sessions_mu_);
  sessions_.emplace(session.get(), session);
}

void HttpListener::Impl::Leave(Session* session) {
  std::lock_guard lock(sessions_mu_);
  sessions_.erase(session);
  connections_.fetch_sub(1);
  sessions_gone_.notify_all();
}

Status HttpListener::Impl::Start(const std::string& host, int port) {
  const std::string where = host + ":" + std::to_string(port);
  if (tls_ != nullptr) {
    ssl_context_.emplace(ssl::context::tls_server);
    if (Status s = ConfigureServerContext(ssl_context_->native_handle(), *tls_); !s.ok())
      return Status::Internal("cannot set up TLS for HTTP on " + where + ": " + s.message());
  }
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  const auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) return Status::Unavailable("cannot listen for HTTP on " + where + ": " + ec.message());
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  // SO_REUSEADDR only: without SO_REUSEPORT a second server cannot bind a port already served.
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return Status::Unavailable("cannot listen for HTTP on " + where + ": " + ec.message());
  work_.emplace(ioc_.get_executor());
  Accept();
  for (int i = 0; i < kIoThreads; ++i) io_threads_.emplace_back([this] { ioc_.run(); });
  started_ = true;
  return Status::Ok();
}

void HttpListener::Impl::Accept() {
  acceptor_.async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopping_) return;
    if (!ec) {
      if (connections_.fetch_add(1) >= options_.max_connections) {
        connections_.fetch_sub(1);
        RefuseTooMany(std::move(socket));
      } else {
        // Answers are written in a few send() calls; with Nagle's algorithm the last small one
        // would wait for the client's delayed ACK (40 ms on Linux).
        socket.set_option(tcp::no_delay(true), ec);
        std::shared_ptr<Session> session;
        if (ssl_context_.has_value()) {
          session = std::make_shared<Connection<TlsStream>>(*this, std::move(socket), &*ssl_context_);
        } else {
          session = std::make_shared<Connection<PlainStream>>(*this, std::move(socket), nullptr);
        }
        Enter(session);
        session->Start();
      }
    }
    Accept();
  });
}

// Over the connection cap: a plain connection gets a 503 naming the limit, then is closed; a TLS
// one is closed (answering would need a handshake, which is what the cap saves).
void HttpListener::Impl::RefuseTooMany(tcp::socket socket) {
  if (ssl_context_.has_value()) return;  // `socket` closes as it goes
  auto refused = std::make_shared<std::pair<tcp::socket, std::string>>(std::move(socket), std::string());
  const std::string body = "{\"code\":14,\"message\":\"too many connections: http.max_connections (" +
                           std::to_string(options_.max_connections) + ") are open\"}";
  refused->second =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
      "Connection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  asio::async_write(refused->first, asio::buffer(refused->second), [refused](beast::error_code, size_t) {
    beast::error_code ignored;
    refused->first.shutdown(tcp::socket::shutdown_both, ignored);
    refused->first.close(ignored);
  });
}

void HttpListener::Impl::Stop() {
  if (!started_) return;
  started_ = false;
  stopping_ = true;
  asio::post(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
  });
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(sessions_mu_);
    for (auto& [raw, weak] : sessions_)
      if (auto session = weak.lock()) open.push_back(std::move(session));
  }
  for (auto& session : open) session->CloseIfIdle();
  open.clear();
  {
    std::unique_lock lock(sessions_mu_);
    sessions_gone_.wait_for(lock, kStopGrace, [this] { return sessions_.empty(); });
  }
  work_.reset();
  ioc_.stop();
  for (auto& thread : io_threads_) thread.join();
  io_threads_.clear();
  workers_.stop();
  workers_.join();
}

HttpListener::HttpListener(const HttpRouter* router, PreRoute pre_route, HttpListenerOptions options,
                           const TlsMaterial* tls)
    : impl_(std::make_unique<Impl>(router, std::move(pre_route), options, tls)) {}

HttpListener::~HttpListener() = default;

Status HttpListener::Start(const std::string& host, int port) { return impl_->Start(host, port); }

int HttpListener::port() const { return impl_->port(); }

void HttpListener::Stop() { impl_->Stop(); }

}  // namespace tb::server
