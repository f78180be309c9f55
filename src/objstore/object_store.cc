#include "objstore/object_store.h"

#include <string>
#include <utility>

namespace tb::objstore {

Result<std::vector<ObjectInfo>> ListAll(ObjectStore& store, std::string_view prefix) {
  std::vector<ObjectInfo> all;
  std::string token;
  while (true) {
    TB_ASSIGN_OR_RETURN(ListPage page, store.List(prefix, token));
    // A store that hands back the token it was given would loop forever.
    if (!page.next_token.empty() && page.next_token == token) {
      return Status::Internal("list of \"" + std::string(prefix) + "\" on " + store.Describe() +
                              " returned the same continuation token twice");
    }
    for (ObjectInfo& info : page.objects) all.push_back(std::move(info));
    if (page.next_token.empty()) return all;
    token = std::move(page.next_token);
  }
}

Status ValidateKey(std::string_view key) {
  auto invalid = [&](std::string_view why) {
    std::string shown(key.substr(0, 200));
    for (char& c : shown) {
      if (c == '\0') c = '?';
    }
    return Status::InvalidArgument("invalid object key \"" + shown + "\": " + std::string(why));
  };
  if (key.empty()) return invalid("empty");
  if (key.size() > 1024) return invalid("longer than 1024 bytes");
  if (key.find('\0') != std::string_view::npos) return invalid("contains NUL");
  if (key.front() == '/') return invalid("starts with '/'");
  size_t begin = 0;
  while (begin <= key.size()) {
    size_t end = key.find('/', begin);
    if (end == std::string_view::npos) end = key.size();
    std::string_view component = key.substr(begin, end - begin);
    if (component.empty()) return invalid("empty path component");
    if (component == "." || component == "..") return invalid("'.' or '..' path component");
    begin = end + 1;
  }
  return Status::Ok();
}

Status CheckCloudKey(std::string_view service, std::string_view op, std::string_view prefix, std::string_view key) {
  const std::string where = std::string(service) + " " + std::string(op);
  if (key.empty() || key.front() == '/')
    return Status::InvalidArgument(where + ": invalid key \"" + std::string(key) + "\"");
  if (prefix.size() + key.size() > 1024) {
    return Status::InvalidArgument(where + ": key longer than 1024 bytes with the prefix");
  }
  return Status::Ok();
}

}  // namespace tb::objstore
