#include "util/durable_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

namespace tb {
namespace {

// Closes the descriptor when it goes out of scope.
struct Fd {
  explicit Fd(int value) : fd(value) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int fd;
};

std::string ParentOf(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

Status SyncDirectory(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.fd < 0) return Status::IoError("open directory " + dir, errno);
  if (::fsync(fd.fd) != 0) return Status::IoError("fsync directory " + dir, errno);
  return Status::Ok();
}

Status CreateDirectoriesDurably(const std::string& dir) {
  // The missing folders, innermost first.
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (std::filesystem::path p = std::filesystem::absolute(dir, ec);
       !ec && !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  if (ec) return Status::IoError("create directory " + dir, ec.value());
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) != 0 && errno != EEXIST)
      return Status::IoError("create directory " + it->string(), errno);
    TB_RETURN_IF_ERROR(SyncDirectory(it->parent_path().string()));
  }
  return Status::Ok();
}

Status WriteFileDurably(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.fd < 0) return Status::IoError("create " + tmp, errno);
    for (size_t done = 0; done < contents.size();) {
      const ssize_t n = ::write(fd.fd, contents.data() + done, contents.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IoError("write " + tmp, errno);
      done += static_cast<size_t>(n);
    }
    if (::fsync(fd.fd) != 0) return Status::IoError("fsync " + tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Status::IoError("rename " + tmp + " to " + path, errno);
  return SyncDirectory(ParentOf(path));
}

}  // namespace tb
