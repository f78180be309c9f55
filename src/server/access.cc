#include "server/access.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "util/text.h"

namespace tb::server {
namespace {

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

bool Contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

Status CheckTenantName(std::string_view name) {
  constexpr size_t kMaxLength = 64;
  const bool valid_chars = std::all_of(
      name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '_' || c == '-'; });
  if (name.empty() || name.size() > kMaxLength || !valid_chars || name == "." || name == "..")
    return Status::InvalidArgument("tenant '" + std::string(name.substr(0, kMaxLength)) +
                                   "' is not a tenant name (1-64 of A-Z a-z 0-9 . _ -)");
  return Status::Ok();
}

Result<AccessPolicy> AccessPolicy::Open(const Config& config) {
  std::vector<Token> tokens;
  for (size_t i = 0; i < config.auth_tokens.size(); ++i) {
    const TokenConfig& c = config.auth_tokens[i];
    const std::string where = "auth.tokens[" + std::to_string(i) + "]";
    Token token;
    if (!c.file.empty()) {
      std::ifstream in(c.file);
      std::stringstream text;
      text << in.rdbuf();
      if (!in) return Status::InvalidArgument(where + ".token_file: cannot read " + c.file);
      const std::string contents = text.str();
      const std::string_view secret = TrimAsciiWhitespace(contents);
      if (secret.empty()) return Status::InvalidArgument(where + ".token_file: " + c.file + " is empty");
      token.sha256 = Sha256(secret);
    } else {
      for (size_t b = 0; b < token.sha256.size(); ++b)
        token.sha256[b] = static_cast<unsigned char>(std::stoi(c.sha256_hex.substr(2 * b, 2), nullptr, 16));
    }
    if (!Contains(c.tenants, "*")) token.tenants = c.tenants;
    token.write = Contains(c.roles, "write");
    token.read = Contains(c.roles, "read");
    token.admin = Contains(c.roles, "admin");
    tokens.push_back(std::move(token));
  }
  return AccessPolicy(config, std::move(tokens));
}

AccessPolicy::AccessPolicy(const Config& config, std::vector<Token> tokens)
    : tenancy_(config.tenancy_enabled),
      tenant_header_(AsciiLowercase(config.tenancy_header)),
      allowed_tenants_(config.tenancy_tenants),
      tokens_(std::move(tokens)) {}

Result<const AccessPolicy::Token*> AccessPolicy::FindToken(const HeaderLookup& headers) const {
  const std::vector<std::string> values = headers("authorization");
  if (values.empty()) return Status::Unauthenticated("missing bearer token: send authorization: Bearer <token>");
  if (values.size() > 1) return Status::Unauthenticated("more than one authorization header");
  // RFC 6750: the scheme is case-insensitive, one space, then the token.
  const std::string_view value = values.front();
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() || AsciiLowercase(value.substr(0, kScheme.size())) != kScheme)
    return Status::Unauthenticated("the authorization header is not a bearer token");
  // Digests of equal length compared in constant time, every configured token each time: the
  // time an answer takes tells nothing about how close a guess was.
  const Digest digest = Sha256(TrimAsciiWhitespace(value.substr(kScheme.size())));
  const Token* found = nullptr;
  for (const Token& token : tokens_)
    if (CRYPTO_memcmp(token.sha256.data(), digest.data(), digest.size()) == 0) found = &token;
  if (found == nullptr) return Status::Unauthenticated("unknown bearer token");
  return found;
}

Status AccessPolicy::Authenticate(const HeaderLookup& headers) const {
  if (tokens_.empty()) return Status::Ok();
  return FindToken(headers).status();
}

Result<std::string> AccessPolicy::Authorize(const HeaderLookup& headers, Role role) const {
  const Token* token = nullptr;
  if (!tokens_.empty()) {
    TB_ASSIGN_OR_RETURN(token, FindToken(headers));
    const bool allowed = role == Role::kWrite ? token->write : role == Role::kRead ? token->read : token->admin;
    if (!allowed) {
      static constexpr const char* kRoleNames[] = {"write", "read", "admin"};
      return Status::PermissionDenied(std::string("this token lacks the ") + kRoleNames[static_cast<int>(role)] +
                                      " role");
    }
  }
  return TenantOf(headers, token);
}

Result<std::string> AccessPolicy::TenantOf(const HeaderLookup& headers, const Token* token) const {
  if (!tenancy_) return std::string(kDefaultTenant);
  const std::vector<std::string> values = headers(tenant_header_);
  if (values.size() > 1) return Status::PermissionDenied("more than one " + tenant_header_ + " header");
  std::string tenant = values.empty() ? "" : values.front();
  // A token bound to one tenant names it when the request does not.
  if (tenant.empty() && token != nullptr && token->tenants.size() == 1) tenant = token->tenants.front();
  if (tenant.empty()) return Status::Unauthenticated("missing tenant: send the " + tenant_header_ + " header");
  if (Status name = CheckTenantName(tenant); !name.ok()) return Status::PermissionDenied(name.message());
  if (!allowed_tenants_.empty() && !Contains(allowed_tenants_, tenant))
    return Status::PermissionDenied("tenant '" + tenant + "' is not allowed here");
  if (token != nullptr && !token->tenants.empty() && !Contains(token->tenants, tenant))
    return Status::PermissionDenied("this token may not act for tenant '" + tenant + "'");
  return tenant;
}

}  // namespace tb::server
