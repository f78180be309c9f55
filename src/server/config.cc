#include "server/config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <filesystem>
#include <set>

#include "objstore/local_store.h"
#include "objstore/s3_store.h"

namespace tb::server {
namespace {

Status CheckKeys(const YAML::Node& node, const std::string& where, const std::set<std::string>& allowed) {
  if (!node.IsMap()) return Status::InvalidArgument(where + ": expected a mapping");
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    if (!allowed.contains(key)) return Status::InvalidArgument(where + ": unknown key '" + key + "'");
  }
  return Status::Ok();
}

template <typename T>
Status Read(const YAML::Node& node, const char* key, T* out) {
  if (!node[key]) return Status::Ok();
  try {
    *out = node[key].as<T>();
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string(key) + ": " + e.what());
  }
  return Status::Ok();
}

template <typename T>
Status ReadSize(const YAML::Node& node, const char* key, T* out) {
  if (!node[key]) return Status::Ok();
  TB_ASSIGN_OR_RETURN(uint64_t v, ParseByteSize(node[key].as<std::string>()));
  if (v > std::numeric_limits<T>::max()) return Status::InvalidArgument(std::string(key) + ": too large");
  *out = static_cast<T>(v);
  return Status::Ok();
}

}  // namespace

Result<uint64_t> ParseByteSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return Status::InvalidArgument("'" + text + "' is not a size (e.g. 64MiB)");
  uint64_t value;
  try {
    value = std::stoull(text.substr(0, i));
  } catch (const std::exception&) {
    return Status::InvalidArgument("'" + text + "' is out of range");
  }
  std::string unit = text.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"", 1},      {"B", 1},        {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
      {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000},  {"K", 1ull << 10},   {"M", 1ull << 20},   {"G", 1ull << 30}};
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      if (value > UINT64_MAX / factor) return Status::InvalidArgument("'" + text + "' is out of range");
      return value * factor;
    }
  }
  return Status::InvalidArgument("'" + text + "' has an unknown unit (use B, KiB, MiB, GiB)");
}

Result<std::shared_ptr<objstore::ObjectStore>> OpenStorage(const Config& config) {
  std::string url = config.storage;
  if (url.empty()) url = "file://" + (std::filesystem::absolute(config.data_dir) / "blocks").string();
  if (url.starts_with("file://")) {
    TB_ASSIGN_OR_RETURN(auto store, objstore::LocalStore::Open(url.substr(7)));
    return std::shared_ptr<objstore::ObjectStore>(std::move(store));
  }
  if (url.starts_with("s3://")) {
    const std::string rest = url.substr(5);
    const auto slash = rest.find('/');
    objstore::S3Options o;
    o.bucket = rest.substr(0, slash);
    o.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
    o.endpoint = config.s3_endpoint.empty() ? "https://s3." + config.s3_region + ".amazonaws.com" : config.s3_endpoint;
    o.region = config.s3_region;
    o.path_style = config.s3_path_style;
    if (o.bucket.empty()) return Status::InvalidArgument("storage '" + url + "' names no bucket");
    TB_ASSIGN_OR_RETURN(auto store, objstore::S3Store::Open(o));
    return std::shared_ptr<objstore::ObjectStore>(std::move(store));
  }
  return Status::InvalidArgument("storage '" + url + "' must start with file:// or s3://");
}

Status LoadConfigFile(const std::string& path, Config* c) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument("config " + path + ": " + e.what());
  }
  if (root.IsNull()) return Status::Ok();
  auto status = [&]() -> Status {
    TB_RETURN_IF_ERROR(CheckKeys(root, "config",
                                 {"data_dir", "grpc_listen", "http_listen", "enable_purge", "log_level", "head", "wal",
                                  "limits", "storage", "s3", "flush", "cache", "http"}));
    TB_RETURN_IF_ERROR(Read(root, "data_dir", &c->data_dir));
    TB_RETURN_IF_ERROR(Read(root, "grpc_listen", &c->grpc_listen));
    TB_RETURN_IF_ERROR(Read(root, "http_listen", &c->http_listen));
    TB_RETURN_IF_ERROR(Read(root, "enable_purge", &c->enable_purge));
    TB_RETURN_IF_ERROR(Read(root, "log_level", &c->log_level));
    if (auto http = root["http"]) {
      TB_RETURN_IF_ERROR(CheckKeys(http, "http", {"cors"}));
      if (auto cors = http["cors"]) {
        TB_RETURN_IF_ERROR(CheckKeys(cors, "http.cors", {"allowed_origins"}));
        TB_RETURN_IF_ERROR(Read(cors, "allowed_origins", &c->cors_allowed_origins));
      }
    }
    if (auto head = root["head"]) {
      TB_RETURN_IF_ERROR(CheckKeys(head, "head", {"memory_budget"}));
      TB_RETURN_IF_ERROR(ReadSize(head, "memory_budget", &c->head_memory_budget_bytes));
    }
    if (auto wal = root["wal"]) {
      TB_RETURN_IF_ERROR(CheckKeys(wal, "wal", {"sync", "segment_size"}));
      TB_RETURN_IF_ERROR(Read(wal, "sync", &c->wal_sync));
      TB_RETURN_IF_ERROR(ReadSize(wal, "segment_size", &c->wal_segment_bytes));
    }
    TB_RETURN_IF_ERROR(Read(root, "storage", &c->storage));
    if (auto s3 = root["s3"]) {
      TB_RETURN_IF_ERROR(CheckKeys(s3, "s3", {"endpoint", "region", "path_style"}));
      TB_RETURN_IF_ERROR(Read(s3, "endpoint", &c->s3_endpoint));
      TB_RETURN_IF_ERROR(Read(s3, "region", &c->s3_region));
      TB_RETURN_IF_ERROR(Read(s3, "path_style", &c->s3_path_style));
    }
    if (auto flush = root["flush"]) {
      TB_RETURN_IF_ERROR(CheckKeys(flush, "flush", {"size", "age_seconds", "background", "every_write"}));
      TB_RETURN_IF_ERROR(Read(flush, "background", &c->background_flush));
      TB_RETURN_IF_ERROR(Read(flush, "every_write", &c->flush_every_write));
      TB_RETURN_IF_ERROR(ReadSize(flush, "size", &c->flush_bytes));
      TB_RETURN_IF_ERROR(Read(flush, "age_seconds", &c->flush_age_seconds));
    }
    if (auto cache = root["cache"]) {
      TB_RETURN_IF_ERROR(CheckKeys(cache, "cache", {"memory", "disk_size", "dir"}));
      TB_RETURN_IF_ERROR(ReadSize(cache, "memory", &c->cache_bytes));
      TB_RETURN_IF_ERROR(ReadSize(cache, "disk_size", &c->cache_disk_bytes));
      TB_RETURN_IF_ERROR(Read(cache, "dir", &c->cache_dir));
    }
    if (auto l = root["limits"]) {
      TB_RETURN_IF_ERROR(CheckKeys(l, "limits",
                                   {"max_request_size", "max_attributes_per_span", "max_attribute_value_size",
                                    "max_events_per_span", "max_links_per_span", "max_spans_per_trace"}));
      TB_RETURN_IF_ERROR(ReadSize(l, "max_request_size", &c->limits.max_request_bytes));
      TB_RETURN_IF_ERROR(Read(l, "max_attributes_per_span", &c->limits.max_attributes_per_span));
      TB_RETURN_IF_ERROR(ReadSize(l, "max_attribute_value_size", &c->limits.max_attribute_value_bytes));
      TB_RETURN_IF_ERROR(Read(l, "max_events_per_span", &c->limits.max_events_per_span));
      TB_RETURN_IF_ERROR(Read(l, "max_links_per_span", &c->limits.max_links_per_span));
      TB_RETURN_IF_ERROR(Read(l, "max_spans_per_trace", &c->limits.max_spans_per_trace));
    }
    return Status::Ok();
  }();
  return status.WithContext("config " + path);
}

}  // namespace tb::server
