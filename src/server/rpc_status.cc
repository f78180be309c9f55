#include "server/rpc_status.h"

#include "google/rpc/retry_info.pb.h"

namespace tb::server {

google::rpc::Status ToRpcStatus(const Status& status) {
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int>(status.code()));
  rpc.set_message(status.message());
  if (status.code() == StatusCode::kResourceExhausted) {
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_seconds(kRetryDelaySeconds);
    // PackFrom writes the type URL "type.googleapis.com/google.rpc.RetryInfo" that clients look up.
    rpc.add_details()->PackFrom(retry);
  }
  return rpc;
}

}  // namespace tb::server
