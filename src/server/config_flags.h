// The command-line face of Settings(): `--config FILE` and one flag per setting that has one, on
// any subcommand. `serve` and the operator commands (src/cli) take the same flags this way, so a
// `serve` command line with `serve` replaced by `verify` looks at the same bucket.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <string_view>

#include "server/config.h"
#include "util/status.h"

namespace tb::server {

class ConfigFlags {
 public:
  // Adds the flags to `command`, which must outlive this object; `group` titles them in --help
  // (empty: listed with the command's own options).
  ConfigFlags(CLI::App* command, const std::string& group = "");
  ConfigFlags(const ConfigFlags&) = delete;  // CLI11 holds pointers into it
  ConfigFlags& operator=(const ConfigFlags&) = delete;

  // After parsing: defaults, then the --config file, then TRACEBUCKET_* variables in
  // `environ_entries`, then the flags given (each later source wins).
  Result<Config> Resolve(char** environ_entries) const;

 private:
  CLI::App* command_;
  std::string config_file_;
  std::map<std::string_view, std::string> flag_text_;  // by flag; switches have none
};

}  // namespace tb::server
