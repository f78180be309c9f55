// Legacy plugin mode: tracebucket started by Jaeger ≤ 1.57 as a hashicorp/go-plugin storage plugin
// (`--grpc-storage-plugin.binary`). The host sets a magic cookie in the environment, reads one
// handshake line from our stdout, connects over gRPC, checks grpc.health.v1 for "plugin", and asks
// us to exit through the GRPCController's Shutdown. Everything else is the v1 storage API.
#pragma once

#include <functional>
#include <string>

#include "plugin/grpc_controller.grpc.pb.h"
#include "util/status.h"

namespace tb::server {

// The health service name go-plugin checks.
inline constexpr const char* kPluginHealthService = "plugin";

// FAILED_PRECONDITION with an explanation unless the environment is that of a go-plugin host
// speaking to Jaeger's storage plugins: STORAGE_PLUGIN=jaeger, PLUGIN_PROTOCOL_VERSIONS (when set)
// offering app protocol version 1, and no AutoMTLS (PLUGIN_CLIENT_CERT), which we do not speak.
Status CheckPluginEnvironment();

// The line printed on stdout once gRPC listens: core protocol 1 | app protocol 1 | tcp | address | grpc.
std::string PluginHandshakeLine(const std::string& host, int port);

// go-plugin's controller: Shutdown asks the process to stop (through `request_stop`) and returns at
// once; the server then finishes in-flight requests and exits.
class PluginController final : public plugin::GRPCController::Service {
 public:
  explicit PluginController(std::function<void()> request_stop) : request_stop_(std::move(request_stop)) {}
  grpc::Status Shutdown(grpc::ServerContext*, const plugin::Empty*, plugin::Empty*) override;

 private:
  std::function<void()> request_stop_;
};

}  // namespace tb::server
