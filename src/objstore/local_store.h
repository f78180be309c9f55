// LocalStore: an ObjectStore over a folder of the local filesystem. docs/format/local-store.md
// describes the layout. In short: key "a/b/c" is the file <root>/a/b/c; a Put writes a temp file
// ".tmp-<random>" beside the target, fsyncs it, renames it into place and fsyncs the folder, so
// readers see the old object or the new one and an acknowledged Put survives a power loss.
// Create-only puts are atomic (renameat2 RENAME_NOREPLACE, or link()+unlink()).
//
// Keys follow ValidateKey, and in addition no key component may start with ".tmp-" (reserved for
// temp files). Because a folder cannot also be a file, a key cannot be stored while another key
// continues it past a '/' ("a" and "a/b"): such a Put fails with FAILED_PRECONDITION.
//
// Thread-safety: every method may be called concurrently, also by several processes sharing the
// root (each Put has its own temp file; renames are atomic).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"

namespace tb::objstore {

struct LocalStoreOptions {
  // Create the root folder (and its parents) if missing.
  bool create_root = true;
  // fsync objects and folders (Put, Delete). false is faster and loses recent writes on a power
  // loss (not on a process crash); meant for tests.
  bool sync = true;
};

class LocalStore : public ObjectStore {
 public:
  static Result<std::shared_ptr<LocalStore>> Open(const std::string& root, const LocalStoreOptions& options = {});
  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  std::string Describe() const override;  // "file:///absolute/root"
  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  // Walks the folder of the prefix's last '/' in key order; skips temp files, symlinks and other
  // non-regular files.
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  // Unlinks the files, then removes folders left empty (never the root).
  Status Delete(const std::vector<std::string>& keys) override;
  bool SupportsCreateOnly() const override { return true; }

  // Removes temp files last modified more than `age` ago: left behind by processes that died in
  // the middle of a Put. Returns how many were removed. Not needed for correctness (List never
  // shows them), only to reclaim space; call it at startup.
  Result<int> RemoveStaleTempFiles(std::chrono::seconds age);

  const std::string& root() const { return root_; }

 private:
  LocalStore(std::string root, int root_fd, const LocalStoreOptions& options);

  struct Walk;

  std::string root_;  // absolute, no trailing '/'
  int root_fd_;       // O_DIRECTORY; every path is resolved relative to it
  LocalStoreOptions options_;
};

}  // namespace tb::objstore
