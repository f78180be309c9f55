// The operator's command line: subcommands of the one `tracebucket` binary that look into and move
// data without a server (blocks, inspect, verify, export), or talk to one (import), plus config
// check and version. main.cc adds them and runs the one given; each lives in its own file here.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <vector>

namespace tb::cli {

// Runs a parsed subcommand and returns the process's exit code: 0 success, 1 the command ran and
// found a failure (corruption, a trace not found, a rejected request), 2 it could not run (bad
// flags or configuration, an unreachable store).
using CommandRun = std::function<int()>;

struct Command {
  CLI::App* app = nullptr;  // the subcommand, owned by its parent
  CommandRun run;
};

Command AddBlocksCommand(CLI::App& parent);
Command AddInspectCommand(CLI::App& parent);
Command AddVerifyCommand(CLI::App& parent);
Command AddExportCommand(CLI::App& parent);
Command AddImportCommand(CLI::App& parent);
Command AddConfigCommand(CLI::App& parent);
Command AddVersionCommand(CLI::App& parent);

class OperatorCommands {
 public:
  // Adds every operator subcommand to `app`.
  explicit OperatorCommands(CLI::App& app);
  // After app has parsed: the exit code of the operator subcommand that was given, or nullopt if
  // none was (serve, plugin).
  std::optional<int> Run() const;

 private:
  std::vector<Command> commands_;
};

}  // namespace tb::cli
