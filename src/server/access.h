// Who may do what: the tenant a request acts for, checked once for every door. The doors read the
// request's headers (gRPC metadata or HTTP headers) through a HeaderLookup, so the rules live here
// and not in each transport.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.h"
#include "util/status.h"

namespace tb::server {

// What a request does, for the access check: OTLP and v1 writes; every query door; /admin/* and
// /purge.
enum class Role { kWrite, kRead, kAdmin };

// Every value of one request header, by lower-case name (gRPC metadata keys are lower-case; HTTP
// header names are compared without case).
using HeaderLookup = std::function<std::vector<std::string>(std::string_view name)>;

// The tenant everything belongs to while tenancy is off.
inline constexpr std::string_view kDefaultTenant = "default";

// OK when `name` can name a tenant: 1 to 64 characters of A-Z a-z 0-9 . _ -, neither "." nor
// "..", because it becomes a folder name and an object-key prefix.
Status CheckTenantName(std::string_view name);

class AccessPolicy {
 public:
  explicit AccessPolicy(const Config& config);

  // The tenant the request acts for. Tenancy off: always "default", whatever the headers say.
  // Tenancy on: the one value of the tenant header; UNAUTHENTICATED when it is missing or empty,
  // PERMISSION_DENIED when it is given twice, is not a valid name or is outside the allow-list.
  Result<std::string> Authorize(const HeaderLookup& headers, Role role) const;

  // The tenant header's name, lower-case.
  const std::string& tenant_header() const { return tenant_header_; }

 private:
  const bool tenancy_;
  const std::string tenant_header_;
  const std::vector<std::string> allowed_tenants_;  // empty: any valid name
};

}  // namespace tb::server
