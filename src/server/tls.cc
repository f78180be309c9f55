#include "server/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace tb::server {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// OpenSSL's reason for the last failure on this thread (the queue is then emptied).
std::string OpenSslError() {
  const unsigned long code = ERR_peek_last_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

Result<std::string> ReadPemFile(std::string_view key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(std::string(key) + ": cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument(std::string(key) + ": cannot read " + path);
  return text.str();
}

// Every certificate of a PEM text, in order; at least one.
Result<std::vector<X509Ptr>> ReadCertificates(const std::string& pem, std::string_view key, const std::string& path) {
  const std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509Ptr> certs;
  ERR_clear_error();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(cert);
  // Reading stops at the end of the text with "no start line"; any other error is a broken block.
  const unsigned long last = ERR_peek_last_error();
  if (last != 0 && !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE))
    return Status::InvalidArgument(std::string(key) + ": " + path + ": " + OpenSslError());
  ERR_clear_error();
  if (certs.empty())
    return Status::InvalidArgument(std::string(key) + ": " + path +
                                   " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
  return certs;
}

void WarnOutsideValidity(const X509* cert, const std::string& path) {
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
    spdlog::warn("tls.cert_file {}: the certificate has expired; clients will refuse it", path);
  else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
    spdlog::warn("tls.cert_file {}: the certificate is not valid yet; clients will refuse it", path);
}

}  // namespace

Result<std::optional<TlsMaterial>> LoadTls(const Config& config) {
  if (config.tls_cert_file.empty()) return std::optional<TlsMaterial>();
  TlsMaterial tls;
  tls.cert_file = config.tls_cert_file;
  tls.key_file = config.tls_key_file;
  tls.client_ca_file = config.tls_client_ca_file;
  TB_ASSIGN_OR_RETURN(tls.cert_chain_pem, ReadPemFile("tls.cert_file", tls.cert_file));
  TB_ASSIGN_OR_RETURN(tls.key_pem, ReadPemFile("tls.key_file", tls.key_file));
  if (!tls.client_ca_file.empty()) {
    TB_ASSIGN_OR_RETURN(tls.client_ca_pem, ReadPemFile("tls.client_ca_file", tls.client_ca_file));
    // An empty client CA would read as "no mTLS"; refuse it rather than serve without.
    if (tls.client_ca_pem.empty())
      return Status::InvalidArgument("tls.client_ca_file: " + tls.client_ca_file + " is empty");
  }
  // The HTTP door's own set-up is the check: what passes here, both doors can serve.
  const std::unique_ptr<SSL_CTX, CtxFree> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Status::Internal("TLS: cannot create an OpenSSL context: " + OpenSslError());
  TB_RETURN_IF_ERROR(ConfigureServerContext(ctx.get(), tls));
  WarnOutsideValidity(SSL_CTX_get0_certificate(ctx.get()), tls.cert_file);
  return std::optional<TlsMaterial>(std::move(tls));
}

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsMaterial& tls) {
  grpc::SslServerCredentialsOptions options(tls.mutual() ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                         : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_root_certs = tls.client_ca_pem;
  options.pem_key_cert_pairs.push_back({tls.key_pem, tls.cert_chain_pem});
  return grpc::SslServerCredentials(options);
}

Status ConfigureServerContext(SSL_CTX* ctx, const TlsMaterial& tls) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
    return Status::Internal("TLS: cannot require TLS 1.2: " + OpenSslError());
  TB_ASSIGN_OR_RETURN(std::vector<X509Ptr> chain, ReadCertificates(tls.cert_chain_pem, "tls.cert_file", tls.cert_file));
  if (SSL_CTX_use_certificate(ctx, chain[0].get()) != 1)
    return Status::InvalidArgument("tls.cert_file: " + tls.cert_file + ": " + OpenSslError());
  for (size_t i = 1; i < chain.size(); ++i) {
    // add0 takes the reference on success.
    if (SSL_CTX_add0_chain_cert(ctx, chain[i].get()) != 1)
      return Status::InvalidArgument("tls.cert_file: " + tls.cert_file + ": " + OpenSslError());
    (void)chain[i].release();
  }

  const std::unique_ptr<BIO, BioFree> key_bio(
      BIO_new_mem_buf(tls.key_pem.data(), static_cast<int>(tls.key_pem.size())));
  const std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key)
    return Status::InvalidArgument("tls.key_file: " + tls.key_file +
                                   " holds no unencrypted PEM private key: " + OpenSslError());
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("tls.key_file: " + tls.key_file + " is not the key of the certificate in " +
                                   tls.cert_file);
  }

  if (!tls.mutual()) return Status::Ok();
  TB_ASSIGN_OR_RETURN(std::vector<X509Ptr> cas,
                      ReadCertificates(tls.client_ca_pem, "tls.client_ca_file", tls.client_ca_file));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const X509Ptr& ca : cas) {
    // The store verifies client chains; the list names the acceptable CAs to the client.
    if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(ctx, ca.get()) != 1)
      return Status::InvalidArgument("tls.client_ca_file: " + tls.client_ca_file + ": " + OpenSslError());
  }
  // No SSL_VERIFY_FAIL_IF_NO_PEER_CERT: see the header.
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, nullptr);
  return Status::Ok();
}

bool ClientCertificateVerified(const SSL* ssl) {
  return ssl != nullptr && SSL_get0_peer_certificate(ssl) != nullptr && SSL_get_verify_result(ssl) == X509_V_OK;
}

}  // namespace tb::server
