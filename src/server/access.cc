#include "server/access.h"

#include <algorithm>
#include <cctype>

namespace tb::server {
namespace {

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
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

AccessPolicy::AccessPolicy(const Config& config)
    : tenancy_(config.tenancy_enabled),
      tenant_header_(Lower(config.tenancy_header)),
      allowed_tenants_(config.tenancy_tenants) {}

Result<std::string> AccessPolicy::Authorize(const HeaderLookup& headers, Role) const {
  if (!tenancy_) return std::string(kDefaultTenant);
  const std::vector<std::string> values = headers(tenant_header_);
  if (values.empty() || values.front().empty())
    return Status::Unauthenticated("missing tenant: send the " + tenant_header_ + " header");
  if (values.size() > 1) return Status::PermissionDenied("more than one " + tenant_header_ + " header");
  const std::string& tenant = values.front();
  if (Status name = CheckTenantName(tenant); !name.ok()) return Status::PermissionDenied(name.message());
  if (!allowed_tenants_.empty() &&
      std::find(allowed_tenants_.begin(), allowed_tenants_.end(), tenant) == allowed_tenants_.end())
    return Status::PermissionDenied("tenant '" + tenant + "' is not allowed here");
  return tenant;
}

}  // namespace tb::server
