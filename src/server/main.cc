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

#include "server/config.h"
#include "server/plugin.h"
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

}  // namespace

int main(int argc, char** argv) {
  // Few malloc arenas: request buffers freed by one gRPC thread are reused by the next instead of
  // staying pinned in per-thread arenas, which keeps RSS close to the head's budget.
  mallopt(M_ARENA_MAX, 2);
  spdlog::set_default_logger(spdlog::stderr_color_mt("tracebucket"));
  CLI::App app{"tracebucket: Jaeger and OpenTelemetry traces in object storage"};
  app.require_subcommand(1);

  tb::server::Config defaults;
  std::string config_file, head_budget, max_request;
  auto* serve = app.add_subcommand("serve", "Run the server");
  serve->add_option("--config", config_file, "YAML configuration file; flags override it")->check(CLI::ExistingFile);
  serve->add_option("--data-dir", defaults.data_dir, "Directory for the WAL and local data")->capture_default_str();
  serve->add_option("--grpc-listen", defaults.grpc_listen, "gRPC address: OTLP, Jaeger storage v2, health")
      ->capture_default_str();
  serve->add_option("--http-listen", defaults.http_listen, "HTTP address: OTLP/HTTP, /ready, Jaeger HTTP APIs")
      ->capture_default_str();
  serve->add_flag("--enable-purge", defaults.enable_purge, "Serve POST /purge, which deletes ALL data (tests only)");
  serve
      ->add_option("--cors-allowed-origins", defaults.cors_allowed_origins,
                   "Browser origins allowed to call the HTTP API, comma-separated; * for any (default: none)")
      ->delimiter(',');
  serve->add_option("--head-memory-budget", head_budget, "Memory for recent spans, e.g. 1GiB (default 320MiB)");
  serve->add_option("--max-request-size", max_request, "Largest accepted request body, e.g. 64MiB (default 64MiB)");
  serve->add_option("--log-level", defaults.log_level, "trace, debug, info, warn, error")->capture_default_str();
  serve->add_option("--storage", defaults.storage,
                    "Blocks: file:///path (default: <data-dir>/blocks) or s3://bucket/prefix");
  serve->add_option("--s3-endpoint", defaults.s3_endpoint, "S3 endpoint URL (default: AWS for --s3-region)");
  serve->add_option("--s3-region", defaults.s3_region, "S3 region")->capture_default_str();
  serve->add_flag("--s3-path-style", defaults.s3_path_style, "Path-style S3 URLs (http://host/bucket/key)");
  std::string cache_memory, cache_disk;
  serve->add_option("--cache-memory-size", cache_memory,
                    "Block indexes and pages kept in memory, e.g. 512MiB (default 256MiB)");
  serve->add_option(
      "--cache-disk-size", cache_disk,
      "Disk tier of the block cache in front of s3:// storage, e.g. 10GiB; 0 turns it off (default 1GiB)");
  serve->add_option("--cache-dir", defaults.cache_dir, "Folder of the disk cache (default: <data-dir>/cache)");
  bool no_background_flush = false;
  serve->add_flag("--no-background-flush", no_background_flush,
                  "Write blocks only on POST /admin/flush (tests; back-pressure then holds ingest)");
  serve->add_flag("--flush-every-write", defaults.flush_every_write,
                  "Flush every write into a block before acknowledging it (tests: reads come from blocks)");

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
  CLI11_PARSE(app, static_cast<int>(args.size()), args.data());

  if (plugin->parsed()) {
    if (auto s = tb::server::CheckPluginEnvironment(); !s.ok()) {
      spdlog::critical("{}", s.message());
      return 1;
    }
    tb::server::Config config;
    config.http_listen.clear();  // HTTP only when the file asks for it
    if (!plugin_config_file.empty()) {
      if (auto s = tb::server::LoadConfigFile(plugin_config_file, &config); !s.ok()) {
        spdlog::critical("{}", s.ToString());
        return 2;
      }
    }
    // go-plugin connects to the address of the handshake line: any free loopback port.
    config.grpc_listen = "127.0.0.1:0";
    spdlog::set_level(spdlog::level::from_str(config.log_level));
    return Serve(std::move(config), /*plugin_mode=*/true);
  }

  tb::server::Config config;
  if (!config_file.empty()) {
    if (auto s = tb::server::LoadConfigFile(config_file, &config); !s.ok()) {
      spdlog::critical("{}", s.ToString());
      return 2;
    }
  }
  // Flags given on the command line win over the file.
  auto given = [&](const char* flag) { return serve->count(flag) > 0; };
  if (given("--data-dir")) config.data_dir = defaults.data_dir;
  if (given("--grpc-listen")) config.grpc_listen = defaults.grpc_listen;
  if (given("--http-listen")) config.http_listen = defaults.http_listen;
  if (given("--enable-purge")) config.enable_purge = defaults.enable_purge;
  if (given("--cors-allowed-origins")) config.cors_allowed_origins = defaults.cors_allowed_origins;
  if (given("--log-level")) config.log_level = defaults.log_level;
  if (given("--storage")) config.storage = defaults.storage;
  if (given("--s3-endpoint")) config.s3_endpoint = defaults.s3_endpoint;
  if (given("--s3-region")) config.s3_region = defaults.s3_region;
  if (given("--s3-path-style")) config.s3_path_style = defaults.s3_path_style;
  if (given("--cache-dir")) config.cache_dir = defaults.cache_dir;
  if (no_background_flush) config.background_flush = false;
  if (given("--flush-every-write")) config.flush_every_write = defaults.flush_every_write;
  for (auto [flag, text, target] : {std::tuple{"--head-memory-budget", &head_budget, &config.head_memory_budget_bytes},
                                    std::tuple{"--max-request-size", &max_request, &config.limits.max_request_bytes},
                                    std::tuple{"--cache-memory-size", &cache_memory, &config.cache_bytes},
                                    std::tuple{"--cache-disk-size", &cache_disk, &config.cache_disk_bytes}}) {
    if (!given(flag)) continue;
    auto bytes = tb::server::ParseByteSize(*text);
    if (!bytes.ok()) {
      spdlog::critical("{}: {}", flag, bytes.status().message());
      return 2;
    }
    *target = *bytes;
  }
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  return Serve(std::move(config));
}
