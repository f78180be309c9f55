#include "server/plugin.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <sstream>

namespace tb::server {
namespace {

// Jaeger's go-plugin handshake config (jaeger ≤ 1.57, plugin/storage/grpc/shared).
constexpr const char* kMagicCookieKey = "STORAGE_PLUGIN";
constexpr const char* kMagicCookieValue = "jaeger";
constexpr int kCoreProtocolVersion = 1;
constexpr int kAppProtocolVersion = 1;

}  // namespace

Status CheckPluginEnvironment() {
  const char* cookie = std::getenv(kMagicCookieKey);
  if (cookie == nullptr || std::string(cookie) != kMagicCookieValue)
    return Status::FailedPrecondition(
        "this is a Jaeger storage plugin: Jaeger (≤ 1.57, --grpc-storage-plugin.binary) starts it with " +
        std::string(kMagicCookieKey) + "=" + kMagicCookieValue +
        " in the environment. To run tracebucket yourself, use `tracebucket serve`.");
  if (const char* versions = std::getenv("PLUGIN_PROTOCOL_VERSIONS"); versions != nullptr && *versions != '\0') {
    std::stringstream list(versions);
    std::string v;
    bool offered = false;
    while (std::getline(list, v, ',')) offered |= v == std::to_string(kAppProtocolVersion);
    if (!offered)
      return Status::FailedPrecondition("the plugin host offers protocol versions " + std::string(versions) +
                                        "; tracebucket speaks version " + std::to_string(kAppProtocolVersion));
  }
  // With AutoMTLS the host would dial TLS; failing here says why instead of a TLS error on its side.
  if (const char* cert = std::getenv("PLUGIN_CLIENT_CERT"); cert != nullptr && *cert != '\0')
    return Status::FailedPrecondition(
        "the plugin host asks for AutoMTLS (PLUGIN_CLIENT_CERT is set), which tracebucket's plugin mode does not "
        "support; Jaeger's storage plugin host does not enable it");
  return Status::Ok();
}

std::string PluginHandshakeLine(const std::string& host, int port) {
  return std::to_string(kCoreProtocolVersion) + "|" + std::to_string(kAppProtocolVersion) + "|tcp|" + host + ":" +
         std::to_string(port) + "|grpc";
}

grpc::Status PluginController::Shutdown(grpc::ServerContext*, const plugin::Empty*, plugin::Empty*) {
  spdlog::info("plugin host asked us to shut down");
  request_stop_();
  return grpc::Status::OK;
}

}  // namespace tb::server
