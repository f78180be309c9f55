// TLS on the listeners: the certificate, key and optional client CA of config.tls_*, read and
// checked once at start so that a wrong file stops the server with a message naming it, instead of
// every handshake failing later. Both doors take the same material: gRPC as PEM text
// (grpc::SslServerCredentials), HTTP as an OpenSSL context (server/http_listener.h).
#pragma once

#include <grpcpp/security/server_credentials.h>
#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

#include "server/config.h"
#include "util/status.h"

namespace tb::server {

struct TlsMaterial {
  std::string cert_chain_pem;  // the server's certificate first, then intermediates
  std::string key_pem;
  std::string client_ca_pem;                        // empty: no client certificates asked for
  std::string cert_file, key_file, client_ca_file;  // where each came from, for messages
  bool mutual() const { return !client_ca_pem.empty(); }
};

// nullopt when TLS is off (no tls.cert_file). INVALID_ARGUMENT naming the key when a file cannot be
// read, holds no PEM certificate (or key), or the key is not the certificate's. A certificate
// outside its validity period is logged as a warning, not refused (clocks of new hosts drift).
Result<std::optional<TlsMaterial>> LoadTls(const Config& config);

// Server credentials for gRPC: TLS 1.2 or later, and with a client CA, REQUIRE_AND_VERIFY.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsMaterial& tls);

// Sets up `ctx` for the HTTP door: TLS 1.2 or later, the chain and key, and with a client CA the
// verification of a client certificate when one is presented. A client that presents none still
// completes the handshake, so that probes reach /live and /ready; the HTTP door refuses every other
// request of such a client (ClientCertificateVerified). The errors of LoadTls.
Status ConfigureServerContext(SSL_CTX* ctx, const TlsMaterial& tls);

// Whether the client of `ssl` presented a certificate that verified against the client CA.
bool ClientCertificateVerified(const SSL* ssl);

}  // namespace tb::server
