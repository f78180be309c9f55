// What the operator subcommands share: serve's flags (server::ConfigFlags), which name the bucket,
// and opening the bucket for reading.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "block/format.h"
#include "objstore/object_store.h"
#include "server/config.h"
#include "server/config_flags.h"
#include "util/status.h"

namespace tb::cli {

// The title under which the operator commands list serve's flags in --help.
inline constexpr const char* kConfigGroup = "Configuration (the same flags as serve's)";

// What a bucket command reads from.
struct Bucket {
  server::Config config;  // defaults, --config file, TRACEBUCKET_* variables, flags: as `serve` would run
  std::shared_ptr<objstore::ObjectStore> store;
  // {tenant} when one was asked for, else every tenant of the store.
  std::vector<std::string> tenants;
};

// Resolves the configuration and opens the store it names, for reading. Unlike `serve`, no disk
// cache sits in front of S3 (every read reaches the bucket, which is what `verify` must check), and
// a file:// folder must already exist: looking at a mistyped path reports it instead of creating an
// empty bucket there. A `tenant` (empty: all) the store holds nothing of is NOT_FOUND, listing the
// tenants there are: a mistyped tenant is reported, not shown as empty.
Result<Bucket> OpenBucket(const server::ConfigFlags& flags, const std::string& tenant);

// A block found by FindBlock.
struct LocatedBlock {
  std::string tenant;
  block::BlockMeta meta;      // read from its meta object
  uint64_t list_version = 0;  // the newest block list's version
  bool published = false;     // whether that list names the block
};

// The one block of `tenants` whose ID is `id` or starts with it (it must have a meta). NOT_FOUND
// when none does, INVALID_ARGUMENT naming the candidates when several do.
Result<LocatedBlock> FindBlock(objstore::ObjectStore& store, const std::vector<std::string>& tenants,
                               const std::string& id);

}  // namespace tb::cli
