#include "objstore/local_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <set>
#include <thread>
#include <utility>

namespace tb::objstore {
namespace {

constexpr std::string_view kTempPrefix = ".tmp-";

bool IsTempName(std::string_view name) { return name.starts_with(kTempPrefix); }

// Maps an errno from a filesystem call to a Status; `what` names the file ("file:///r/key").
Status FromErrno(std::string_view op, const std::string& what, int err) {
  std::string context = std::string(op) + " " + what;
  switch (err) {
    case ENOSPC:
    case EDQUOT: return Status::ResourceExhausted(context + ": " + std::strerror(err));
    case ENAMETOOLONG: return Status::InvalidArgument(context + ": " + std::strerror(err));
    case EACCES:
    case EPERM:
    case EROFS: return Status::FailedPrecondition(context + ": " + std::strerror(err));
    default: return Status::IoError(context, err);
  }
}

// ValidateKey plus LocalStore's own rule: no component may look like a temp file.
Status CheckLocalKey(std::string_view key) {
  TB_RETURN_IF_ERROR(ValidateKey(key));
  size_t begin = 0;
  while (begin < key.size()) {
    size_t end = std::min(key.find('/', begin), key.size());
    if (IsTempName(key.substr(begin, end - begin))) {
      return Status::InvalidArgument("invalid object key \"" + std::string(key) +
                                     "\": components starting with \".tmp-\" are reserved for temp files");
    }
    begin = end + 1;
  }
  return Status::Ok();
}

// The folder part of a key ("a/b" for "a/b/c", "" for "c").
std::string_view DirOf(std::string_view key) {
  size_t slash = key.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : key.substr(0, slash);
}

// A path relative to the root fd: "." stands for the root itself.
std::string RelPath(std::string_view path) { return path.empty() ? std::string(".") : std::string(path); }

std::string RandomSuffix() {
  thread_local std::mt19937_64 rng([] {
    std::random_device device;
    std::seed_seq seed{device(), device(),
                       static_cast<unsigned>(std::hash<std::thread::id>()(std::this_thread::get_id())),
                       static_cast<unsigned>(std::time(nullptr)), static_cast<unsigned>(getpid())};
    return std::mt19937_64(seed);
  }());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error of close(2), which can carry a deferred write error.
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

int WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), std::min<size_t>(data.size(), 1 << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

int ReadAllAt(int fd, char* out, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t got = ::pread(fd, out, std::min<size_t>(n, 1 << 30), static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (got == 0) return EIO;  // objects never shrink in place: the file is not what fstat said
    out += got;
    n -= static_cast<size_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Open
// ---------------------------------------------------------------------------------------------

Result<std::shared_ptr<LocalStore>> LocalStore::Open(const std::string& root, const LocalStoreOptions& options) {
  if (root.empty()) return Status::InvalidArgument("local store: empty root path");
  std::error_code ec;
  std::filesystem::path path = std::filesystem::absolute(root, ec);
  if (ec) return Status::InvalidArgument("local store: bad root path \"" + root + "\": " + ec.message());
  path = path.lexically_normal();
  std::string abs = path.string();
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  if (options.create_root) {
    std::filesystem::create_directories(abs, ec);
    if (ec) return Status::Internal("local store: cannot create " + abs + ": " + ec.message());
  }
  int fd = ::open(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("local store: no folder " + abs);
    return FromErrno("open", abs, err);
  }
  return std::shared_ptr<LocalStore>(new LocalStore(std::move(abs), fd, options));
}

LocalStore::LocalStore(std::string root, int root_fd, const LocalStoreOptions& options)
    : root_(std::move(root)), root_fd_(root_fd), options_(options) {}

LocalStore::~LocalStore() { ::close(root_fd_); }

std::string LocalStore::Describe() const { return "file://" + root_; }

// ---------------------------------------------------------------------------------------------
// Put
// ---------------------------------------------------------------------------------------------

namespace {

// fsyncs the folder `dir` (relative to root_fd; "" is the root). A folder that has vanished (pruned
// by a concurrent Delete) has nothing left to sync.
Status SyncDir(int root_fd, std::string_view dir, const std::string& what) {
  Fd fd(::openat(root_fd, RelPath(dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status::Ok();
    return FromErrno("open folder of", what, errno);
  }
  if (::fsync(fd.get()) != 0) return FromErrno("fsync folder of", what, errno);
  return Status::Ok();
}

// Creates the folders of `dir` (relative to root_fd), syncing the parent of each one created.
// ENOENT (a concurrent Delete pruned a folder just created) is left to the caller's retry.
Status MakeDirs(int root_fd, std::string_view dir, bool sync, const std::string& what) {
  size_t end = 0;
  while (end < dir.size()) {
    end = std::min(dir.find('/', end + 1), dir.size());
    std::string path(dir.substr(0, end));
    if (::mkdirat(root_fd, path.c_str(), 0755) == 0) {
      if (sync) TB_RETURN_IF_ERROR(SyncDir(root_fd, DirOf(path), what));
      continue;
    }
    int err = errno;
    if (err == EEXIST || err == ENOENT) continue;
    if (err == ENOTDIR) {
      return Status::FailedPrecondition("put " + what + ": a leading part of the key is an object");
    }
    return FromErrno("mkdir for", what, err);
  }
  return Status::Ok();
}

}  // namespace

Status LocalStore::Put(std::string_view key, std::string_view data, PutMode mode) {
  TB_RETURN_IF_ERROR(CheckLocalKey(key));
  const std::string what = Describe() + "/" + std::string(key);
  const std::string target(key);
  const std::string_view dir = DirOf(key);

  // 1. A fresh temp file beside the target (same folder, so the rename is atomic).
  std::string temp;
  int raw_fd = -1;
  for (int attempt = 0; raw_fd < 0; ++attempt) {
    temp = (dir.empty() ? std::string() : std::string(dir) + "/") + std::string(kTempPrefix) + RandomSuffix();
    raw_fd = ::openat(root_fd_, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (raw_fd >= 0) break;
    int err = errno;
    if (attempt >= 100) return FromErrno("create temp file for", what, err);
    if (err == EEXIST) continue;
    if (err == ENOENT) {
      TB_RETURN_IF_ERROR(MakeDirs(root_fd_, dir, options_.sync, what));
      continue;
    }
    if (err == ENOTDIR) {
      return Status::FailedPrecondition("put " + what + ": a leading part of the key is an object");
    }
    return FromErrno("create temp file for", what, err);
  }
  Fd fd(raw_fd);
  bool published = false;
  struct RemoveTemp {
    int root_fd;
    const std::string& temp;
    const bool& published;
    ~RemoveTemp() {
      if (!published) ::unlinkat(root_fd, temp.c_str(), 0);
    }
  } remove_temp{root_fd_, temp, published};

  // 2. Contents, durably.
  if (int err = WriteAll(fd.get(), data)) return FromErrno("write", what, err);
  if (options_.sync && ::fsync(fd.get()) != 0) return FromErrno("fsync", what, errno);
  if (fd.Close() != 0) return FromErrno("close", what, errno);

  // 3. Publish.
  auto exists_error = [&]() {
    struct stat st;
    if (::fstatat(root_fd_, target.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
      return Status::FailedPrecondition("put " + what + ": other keys continue this key past a '/'");
    }
    return Status::AlreadyExists(what + " already exists");
  };
  if (mode == PutMode::kOverwrite) {
    if (::renameat(root_fd_, temp.c_str(), root_fd_, target.c_str()) != 0) {
      int err = errno;
      if (err == EISDIR || err == ENOTEMPTY || err == EEXIST) return exists_error();
      return FromErrno("rename into", what, err);
    }
  } else if (::renameat2(root_fd_, temp.c_str(), root_fd_, target.c_str(), RENAME_NOREPLACE) != 0) {
    int err = errno;
    if (err == EEXIST) return exists_error();
    if (err != EINVAL && err != ENOSYS && err != ENOTSUP) return FromErrno("rename into", what, err);
    // The filesystem has no RENAME_NOREPLACE: link() also fails if the target exists.
    if (::linkat(root_fd_, temp.c_str(), root_fd_, target.c_str(), 0) != 0) {
      err = errno;
      if (err == EEXIST) return exists_error();
      return FromErrno("link into", what, err);
    }
    ::unlinkat(root_fd_, temp.c_str(), 0);
  }
  published = true;

  // 4. The new name, durably.
  if (options_.sync) TB_RETURN_IF_ERROR(SyncDir(root_fd_, dir, what));
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Get, Head
// ---------------------------------------------------------------------------------------------

Result<std::string> LocalStore::Get(std::string_view key, uint64_t offset, uint64_t length) {
  TB_RETURN_IF_ERROR(CheckLocalKey(key));
  const std::string path(key);
  // O_NONBLOCK: never hang on a FIFO someone left in the folder (no effect on regular files).
  Fd fd(::openat(root_fd_, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR || err == ELOOP) return Status::NotFound(Describe() + "/" + path);
    return FromErrno("open", Describe() + "/" + path, err);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FromErrno("stat", Describe() + "/" + path, errno);
  if (!S_ISREG(st.st_mode)) return Status::NotFound(Describe() + "/" + path);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size) {
    return Status::InvalidArgument(Describe() + "/" + path + ": offset " + std::to_string(offset) +
                                   " is past the end (size " + std::to_string(size) + ")");
  }
  const uint64_t n = std::min(length, size - offset);
  std::string out;
  out.resize(n);
  if (int err = ReadAllAt(fd.get(), out.data(), n, offset)) return FromErrno("read", Describe() + "/" + path, err);
  return out;
}

Result<ObjectInfo> LocalStore::Head(std::string_view key) {
  TB_RETURN_IF_ERROR(CheckLocalKey(key));
  const std::string path(key);
  struct stat st;
  if (::fstatat(root_fd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return Status::NotFound(Describe() + "/" + path);
    return FromErrno("stat", Describe() + "/" + path, err);
  }
  if (!S_ISREG(st.st_mode)) return Status::NotFound(Describe() + "/" + path);
  return ObjectInfo{path, static_cast<uint64_t>(st.st_size)};
}

// ---------------------------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------------------------

// One List call: a depth-first walk in key order that stops once it has `limit` objects.
struct LocalStore::Walk {
  const LocalStore& store;
  std::string_view token;  // only keys > token
  size_t limit;
  std::vector<ObjectInfo> objects;

  bool done() const { return objects.size() >= limit; }

  // Walks the folder `dir` ("" = root; keys in it start with dir + "/"), taking only entries whose
  // names start with `name_prefix`.
  Status Dir(const std::string& dir, std::string_view name_prefix) {
    const std::string key_prefix = dir.empty() ? std::string() : dir + "/";
    int raw = ::openat(store.root_fd_, RelPath(dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (raw < 0) {
      int err = errno;
      // Absent, not a folder, or pruned by a concurrent Delete: nothing to list.
      if (err == ENOENT || err == ENOTDIR || err == ELOOP) return Status::Ok();
      return FromErrno("open folder", store.Describe() + "/" + dir, err);
    }
    std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(raw), &::closedir);
    if (!d) {
      int err = errno;
      ::close(raw);
      return FromErrno("read folder", store.Describe() + "/" + dir, err);
    }
    const int dfd = ::dirfd(d.get());

    // Entries sorted as their keys sort: a folder "a" sorts as "a/", because every key inside it
    // starts with "a/" (so "a-b" < "a/x" < "a0").
    struct Entry {
      std::string sort_name;
      bool is_dir;
    };
    std::vector<Entry> entries;
    errno = 0;
    while (dirent* e = ::readdir(d.get())) {
      std::string_view name = e->d_name;
      if (name == "." || name == ".." || IsTempName(name) || !name.starts_with(name_prefix)) continue;
      unsigned char type = e->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
      if (type == DT_DIR) {
        entries.push_back({std::string(name) + "/", true});
      } else if (type == DT_REG) {
        entries.push_back({std::string(name), false});
      }
    }
    if (errno != 0) return FromErrno("read folder", store.Describe() + "/" + dir, errno);
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.sort_name < b.sort_name; });

    for (const Entry& entry : entries) {
      std::string key = key_prefix + entry.sort_name;
      if (entry.is_dir) {
        // Every key inside starts with `key` (which ends in '/'): skip the folder when the token is
        // past all of them.
        if (!token.empty() && token > key && !token.starts_with(key)) continue;
        key.pop_back();
        TB_RETURN_IF_ERROR(Dir(key, ""));
        if (done()) return Status::Ok();
        continue;
      }
      if (!token.empty() && key <= token) continue;
      struct stat st;
      if (::fstatat(dfd, entry.sort_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // deleted meanwhile
        return FromErrno("stat", store.Describe() + "/" + key, errno);
      }
      if (!S_ISREG(st.st_mode)) continue;
      objects.push_back(ObjectInfo{std::move(key), static_cast<uint64_t>(st.st_size)});
      if (done()) return Status::Ok();
    }
    return Status::Ok();
  }
};

Result<ListPage> LocalStore::List(std::string_view prefix, std::string_view token, int max_keys) {
  if (max_keys < 1 || max_keys > 1000) return Status::InvalidArgument("list: max_keys must be in 1..1000");
  ListPage page;
  // The folder to walk is the prefix up to its last '/'. If that part could not begin a valid key
  // ("../", "a//", "/x", ".tmp-x/"), no object matches.
  const size_t slash = prefix.rfind('/');
  const std::string dir(slash == std::string_view::npos ? std::string_view() : prefix.substr(0, slash));
  const std::string_view name_prefix = slash == std::string_view::npos ? prefix : prefix.substr(slash + 1);
  if (slash != std::string_view::npos && !CheckLocalKey(dir).ok()) return page;
  if (name_prefix.find('\0') != std::string_view::npos) return page;

  Walk walk{*this, token, static_cast<size_t>(max_keys) + 1, {}};
  TB_RETURN_IF_ERROR(walk.Dir(dir, name_prefix));
  page.objects = std::move(walk.objects);
  if (page.objects.size() > static_cast<size_t>(max_keys)) {
    page.objects.pop_back();
    page.next_token = page.objects.back().key;
  }
  return page;
}

// ---------------------------------------------------------------------------------------------
// Delete
// ---------------------------------------------------------------------------------------------

Status LocalStore::Delete(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) TB_RETURN_IF_ERROR(CheckLocalKey(key));
  std::set<std::string, std::greater<>> dirs;  // deepest (longest among relatives) first
  for (const std::string& key : keys) {
    if (::unlinkat(root_fd_, key.c_str(), 0) == 0) {
      dirs.emplace(DirOf(key));
      continue;
    }
    int err = errno;
    // Missing, or a folder (not an object): nothing to delete.
    if (err == ENOENT || err == ENOTDIR || err == EISDIR) continue;
    return FromErrno("delete", Describe() + "/" + key, err);
  }
  if (options_.sync) {
    for (const std::string& dir : dirs) TB_RETURN_IF_ERROR(SyncDir(root_fd_, dir, Describe() + "/" + dir));
  }
  // Prune folders left empty, walking up; a folder that is not empty (ENOTEMPTY/EEXIST) or already
  // gone stops the walk. A concurrent Put that loses its folder recreates it.
  for (const std::string& start : dirs) {
    std::string_view dir = start;
    while (!dir.empty() && ::unlinkat(root_fd_, std::string(dir).c_str(), AT_REMOVEDIR) == 0) dir = DirOf(dir);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Temp-file cleanup
// ---------------------------------------------------------------------------------------------

Result<int> LocalStore::RemoveStaleTempFiles(std::chrono::seconds age) {
  const std::time_t cutoff = std::time(nullptr) - static_cast<std::time_t>(age.count());
  int removed = 0;
  std::vector<std::string> pending{""};
  while (!pending.empty()) {
    std::string dir = std::move(pending.back());
    pending.pop_back();
    int raw = ::openat(root_fd_, RelPath(dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (raw < 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return FromErrno("open folder", Describe() + "/" + dir, errno);
    }
    std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(raw), &::closedir);
    if (!d) {
      int err = errno;
      ::close(raw);
      return FromErrno("read folder", Describe() + "/" + dir, err);
    }
    const int dfd = ::dirfd(d.get());
    while (dirent* e = ::readdir(d.get())) {
      std::string_view name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        pending.push_back(dir.empty() ? std::string(name) : dir + "/" + std::string(name));
      } else if (IsTempName(name) && S_ISREG(st.st_mode) && st.st_mtime < cutoff) {
        if (::unlinkat(dfd, e->d_name, 0) == 0) ++removed;
      }
    }
  }
  return removed;
}

}  // namespace tb::objstore
