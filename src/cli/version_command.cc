#include <cstdio>

#include "cli/operator_commands.h"
#include "cli/version.h"

namespace tb::cli {

std::string VersionLine() {
  return std::string("tracebucket ") + TB_VERSION + " (commit " + kGitCommit + ", " + TB_BUILD_TYPE + ", " +
         TB_COMPILER + ")";
}

Command AddVersionCommand(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand("version", "Print the version, git commit, build type and compiler");
  return {app, [] {
            std::printf("tracebucket %s\ncommit      %s\nbuild type  %s\ncompiler    %s\n", TB_VERSION, kGitCommit,
                        TB_BUILD_TYPE, TB_COMPILER);
            return 0;
          }};
}

}  // namespace tb::cli
