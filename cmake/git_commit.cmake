# Run at build time (cmake -P) by src/cli: writes OUT, a C++ file defining tb::cli::kGitCommit as the commit
# SOURCE_DIR is checked out at, or "unknown" outside a git checkout. OUT is rewritten only when the commit changed,
# so an unchanged commit recompiles nothing.
execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE status ERROR_QUIET)
if(NOT status EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
endif()
set(content "// Generated at build time by cmake/git_commit.cmake.\n#include \"cli/version.h\"\n\nconst char* const tb::cli::kGitCommit = \"${commit}\";\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUT}" "${content}")
endif()
