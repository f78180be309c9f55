// Build identity: the release version, the git commit (written at build time by
// cmake/git_commit.cmake), the build type and the compiler.
#pragma once

#include <string>

namespace tb::cli {

extern const char* const kGitCommit;  // 12 hex digits, or "unknown" when built outside git

// "tracebucket 0.1.0 (commit …, RelWithDebInfo, GNU 12.2.0)" on one line.
std::string VersionLine();

}  // namespace tb::cli
