// Restart time with a full WAL: fills a Db's head through its ingester (WAL fdatasync'd, no flush)
// until the head memory budget refuses a batch — the most WAL a server with that budget can have
// to replay — closes it, then times Db::Open, which replays the WAL into a fresh head before it
// returns. With --server, it then starts that `tracebucket` binary on the same folders and times
// process start → the first 200 from GET /ready: what an operator waits for after a restart.
//
//   tb_restart_bench [--head-budget-mib 1024] [--data-dir DIR] [--server PATH]
//
// DIR (default: a new folder under /var/tmp) is deleted at the end unless given.
// Last line: RESULT restart spans=.. wal_mib=.. open_s=.. replay_spans_per_sec=.. [ready_s=..]
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "db/db.h"
#include "objstore/local_store.h"
#include "workload.h"

namespace {

using namespace tb;
namespace fs = std::filesystem;

int Die(const Status& s, const char* what) {
  std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
  return 1;
}

uint64_t FolderBytes(const fs::path& dir) {
  uint64_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) bytes += e.file_size();
  return bytes;
}

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (fd >= 0) close(fd);
  return port;
}

// Starts `server serve` on the bench's folders and returns the seconds from fork to the first
// 200 from GET /ready, or a negative value if the server exited or was not ready in 10 minutes.
double SecondsToReady(const std::string& server, const fs::path& dir, uint64_t budget_mib) {
  const int grpc_port = FreePort(), http_port = FreePort();
  const std::string grpc_listen = "127.0.0.1:" + std::to_string(grpc_port);
  const std::string http_listen = "127.0.0.1:" + std::to_string(http_port);
  const std::string data_dir = (dir / "db").string(), storage = "file://" + (dir / "store").string();
  const std::string budget = std::to_string(budget_mib) + "MiB";
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    execl(server.c_str(), server.c_str(), "serve", "--data-dir", data_dir.c_str(), "--storage", storage.c_str(),
          "--grpc-listen", grpc_listen.c_str(), "--http-listen", http_listen.c_str(), "--head-memory-budget",
          budget.c_str(), "--no-background-flush", "--log-level", "warn", static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) return -1;
  httplib::Client client("127.0.0.1", http_port);
  client.set_connection_timeout(std::chrono::milliseconds(100));
  double seconds = -1;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::minutes(10)) {
    if (auto res = client.Get("/ready"); res && res->status == 200) {
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      break;
    }
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return -1;  // exited before it was ready
    usleep(5000);
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Restart time with a full WAL"};
  uint64_t budget_mib = 1024;
  std::string dir_arg;
  app.add_option("--head-budget-mib", budget_mib,
                 "head memory budget; the default 1024 is above the server's default (320), for a large WAL");
  app.add_option("--data-dir", dir_arg, "folder for the WAL and blocks (kept)");
  std::string server;
  app.add_option("--server", server, "a tracebucket binary: also time its start to a 200 from /ready");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);
  const fs::path dir =
      dir_arg.empty() ? fs::path("/var/tmp") / ("tb-restart-bench." + std::to_string(getpid())) : fs::path(dir_arg);
  fs::remove_all(dir);
  // A temporary folder goes on every exit, failures included: it holds up to a head budget of WAL.
  struct RemoveTemporary {
    fs::path dir;
    ~RemoveTemporary() {
      if (!dir.empty()) fs::remove_all(dir);
    }
  } remove_temporary{dir_arg.empty() ? dir : fs::path()};

  db::DbOptions options;
  options.data_dir = (dir / "db").string();
  options.head_memory_budget_bytes = budget_mib << 20;
  options.background_flush = false;
  auto store = objstore::LocalStore::Open((dir / "store").string());
  if (!store.ok()) return Die(store.status(), "opening the store");

  uint64_t spans = 0;
  {
    auto db = db::Db::Open(options, *store);
    if (!db.ok()) return Die(db.status(), "opening the Db");
    bench::Workload workload;
    const auto t0 = std::chrono::steady_clock::now();
    while (true) {
      model::Traces batch = workload.NextBatch(512);
      const uint64_t n = batch.SpanCount();
      auto result = (*db)->ingester().Ingest(std::move(batch));
      if (!result.ok() && result.status().code() == StatusCode::kResourceExhausted) break;
      if (!result.ok()) return Die(result.status(), "ingest");
      spans += n;
    }
    std::fprintf(stderr, "filled: %llu spans in %.0f s\n", static_cast<unsigned long long>(spans),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (Status s = (*db)->Close(); !s.ok()) return Die(s, "closing the Db");
  }
  const uint64_t wal_bytes = FolderBytes(dir / "db");

  const auto t0 = std::chrono::steady_clock::now();
  auto db = db::Db::Open(options, *store);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!db.ok()) return Die(db.status(), "reopening the Db");
  const uint64_t replayed = (*db)->Stats().active_head.spans;
  if (replayed != spans) {
    std::fprintf(stderr, "replayed %llu spans, wrote %llu\n", static_cast<unsigned long long>(replayed),
                 static_cast<unsigned long long>(spans));
    return 1;
  }
  if (Status s = (*db)->Close(); !s.ok()) return Die(s, "closing the reopened Db");
  db->reset();
  std::string ready;
  if (!server.empty()) {
    const double ready_s = SecondsToReady(server, dir, budget_mib);
    if (ready_s < 0) {
      std::fprintf(stderr, "%s serve did not become ready\n", server.c_str());
      return 1;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), " ready_s=%.2f", ready_s);
    ready = buf;
  }
  std::printf("RESULT restart spans=%llu wal_mib=%.0f head_budget_mib=%llu open_s=%.2f replay_spans_per_sec=%.0f%s\n",
              static_cast<unsigned long long>(spans), static_cast<double>(wal_bytes) / (1 << 20),
              static_cast<unsigned long long>(budget_mib), seconds, static_cast<double>(spans) / seconds,
              ready.c_str());
  return 0;
}
