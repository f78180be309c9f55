// Files and directories that survive a power loss once these calls return: the data is synced, and
// so is every directory entry that leads to it (a new file or folder is durable only once its
// parent directory is synced too).
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace tb {

// fsync of the directory `dir`, so that the entries created or removed in it are durable.
[[nodiscard]] Status SyncDirectory(const std::string& dir);

// Creates `dir` and its missing parents, syncing the parent of each folder it creates.
[[nodiscard]] Status CreateDirectoriesDurably(const std::string& dir);

// Replaces `path` with `contents` atomically and durably: written to a temporary file beside it,
// fsynced, renamed over it, and its directory fsynced. A crash leaves the old or the new file.
[[nodiscard]] Status WriteFileDurably(const std::string& path, std::string_view contents);

}  // namespace tb
