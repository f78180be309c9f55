// tracebucket: a Jaeger / OpenTelemetry trace store.
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "cli/operator_commands.h"
#include "cli/version.h"
#include "server/compact.h"
#include "server/config.h"
#include "server/config_flags.h"
#include "server/logging.h"
#include "server/plugin.h"
#include "server/query_log.h"
#include "server/server.h"

namespace {

// Blocks until SIGTERM or SIGINT; both are blocked in every thread so that only this one sees them.
int WaitForStopSignal(const sigset_t& signals) {
  int signal = 0;
  sigwait(&signals, &signal);
  return signal;
}

// In plugin mode the process also serves go-plugin's controller (whose Shutdown stops it like
// SIGTERM) and prints the handshake line on stdout once gRPC listens.
int Serve(tb::server::Config config, bool plugin_mode = false) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = tb::server::Server::Open(config);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", server.status().ToString());
    return 1;
  }
  if (plugin_mode) (*server)->EnablePluginMode([] { kill(getpid(), SIGTERM); });
  if (auto s = (*server)->Start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.ToString());
    return 1;
  }
  if (plugin_mode) {
    std::printf("%s\n", tb::server::PluginHandshakeLine("127.0.0.1", (*server)->grpc_port()).c_str());
    std::fflush(stdout);
  }
  const int signal = WaitForStopSignal(signals);
  spdlog::info("received signal {}; finishing in-flight requests", signal);
  if (auto s = (*server)->Shutdown(std::chrono::seconds(10)); !s.ok()) {
    spdlog::error("shutdown: {}", s.ToString());
    return 1;
  }
  spdlog::info("stopped cleanly");
  return 0;
}

// Overlays the YAML file (if named), then the TRACEBUCKET_* environment; false after reporting an error.
bool LoadFileAndEnvironment(const std::string& file, tb::server::Config* config) {
  tb::Status status = file.empty() ? tb::Status::Ok() : tb::server::LoadConfigFile(file, config);
  if (status.ok()) status = tb::server::LoadEnvironment(config, environ);
  if (!status.ok()) spdlog::critical("{}", status.ToString());
  return status.ok();
}

// Applies the log settings; a bad one is reported (in the default format) and stops the start.
tb::Status StartLogging(const tb::server::Config& config) {
  tb::Status status = tb::server::ConfigureLogging(config.log_format, config.log_level);
  if (!status.ok()) {
    spdlog::critical("{}", status.message());
    return status;
  }
  tb::server::SetSlowQueryThreshold(config.slow_query_threshold);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // Few malloc arenas: request buffers freed by one gRPC thread are reused by the next instead of
  // staying pinned in per-thread arenas, which keeps RSS close to the head's budget.
  mallopt(M_ARENA_MAX, 2);
  spdlog::set_default_logger(spdlog::stderr_color_mt("tracebucket"));
  CLI::App app{"tracebucket: Jaeger and OpenTelemetry traces in object storage"};
  app.require_subcommand(1);
  app.set_version_flag("--version", tb::cli::VersionLine());

  auto* serve = app.add_subcommand("serve", "Run the server");
  const tb::server::ConfigFlags serve_flags(serve);

  std::string compact_config_file;
  bool compact_once = false;
  auto* compact = app.add_subcommand("compact", "Merge the blocks of a bucket, then exit (for operators and cron)");
  compact->add_option("--config", compact_config_file, "YAML configuration file naming the storage")
      ->check(CLI::ExistingFile);
  compact->add_flag("--once", compact_once, "Compact until nothing is left to merge, then exit (the only mode)")
      ->required();

  // Jaeger ≤ 1.57 runs `<binary> --config <file>` (the file may be empty) as a go-plugin.
  std::string plugin_config_file;
  auto* plugin = app.add_subcommand("plugin", "Run as a Jaeger <= 1.57 storage plugin (Jaeger starts it)");
  plugin->add_option("--config", plugin_config_file,
                     "YAML configuration file (--grpc-storage-plugin.configuration-file)");

  // Jaeger ≤ 1.57 runs the plugin binary itself as `<binary> --config FILE`, without a subcommand;
  // with its magic cookie in the environment that means `plugin`, so no wrapper script is needed.
  std::vector<char*> args(argv, argv + argc);
  static char plugin_command[] = "plugin";
  if (argc >= 2 && std::string_view(argv[1]) == "--config" && std::getenv("STORAGE_PLUGIN") != nullptr)
    args.insert(args.begin() + 1, plugin_command);
  // blocks, inspect, verify, export, import, config check, version (src/cli).
  const tb::cli::OperatorCommands operator_commands(app);
  CLI11_PARSE(app, static_cast<int>(args.size()), args.data());
  if (auto exit_code = operator_commands.Run()) return *exit_code;

  if (plugin->parsed()) {
    if (auto s = tb::server::CheckPluginEnvironment(); !s.ok()) {
      spdlog::critical("{}", s.message());
      return 1;
    }
    tb::server::Config config;
    config.http_listen.clear();  // HTTP only when the file asks for it
    if (!LoadFileAndEnvironment(plugin_config_file, &config)) return 2;
    // go-plugin connects to the address of the handshake line: any free loopback port.
    config.grpc_listen = "127.0.0.1:0";
    if (auto s = StartLogging(config); !s.ok()) return 2;
    return Serve(std::move(config), /*plugin_mode=*/true);
  }

  if (compact->parsed()) {
    tb::server::Config config;
    if (!LoadFileAndEnvironment(compact_config_file, &config)) return 2;
    if (auto s = StartLogging(config); !s.ok()) return 2;
    auto summary = tb::server::CompactOnce(config);
    if (!summary.ok()) {
      spdlog::critical("compaction failed: {}", summary.status().ToString());
      return 1;
    }
    std::fputs(tb::server::CompactionSummaryJson(*summary).c_str(), stdout);
    return summary->lease_held_elsewhere ? 3 : 0;
  }

  auto config = serve_flags.Resolve(environ);
  tb::Status valid = config.ok() ? tb::server::ValidateConfig(*config) : config.status();
  if (!valid.ok()) {
    spdlog::critical("{}", valid.ToString());
    return 2;
  }
  if (auto s = StartLogging(*config); !s.ok()) return 2;
  return Serve(std::move(config).value());
}
