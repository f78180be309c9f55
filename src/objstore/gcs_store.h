// GcsStore: an ObjectStore on a Google Cloud Storage bucket, spoken over GCS's JSON API with the
// shared HTTP layer (http_client.h: pooled libcurl handles, one retry policy). Credentials come
// from gcs_auth.h (service-account key, metadata server, or none for an emulator).
// docs/format/gcs-store.md describes the requests, the auth flows, conditional writes and retries.
//
// Keys map to objects "<prefix><key>" in the bucket; List returns keys relative to the prefix.
// Create-only puts send `ifGenerationMatch=0`, which GCS evaluates atomically when the object is
// created — for resumable uploads too, at their final chunk — so create-only is atomic at every
// size. Objects below `resumable_threshold` go in one multipart upload (metadata with the MD5,
// then the bytes); larger ones in a resumable upload, chunk by chunk, resuming from what GCS
// says it holds after a failed chunk. GCS checks the MD5 given in the metadata in both cases.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/gcs_auth.h"
#include "objstore/http_client.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::objstore {

inline constexpr std::string_view kGcsDefaultEndpoint = "https://storage.googleapis.com";

struct GcsOptions {
  // Scheme, host and optional port: "https://storage.googleapis.com", or an emulator's
  // "http://127.0.0.1:4443".
  std::string endpoint = std::string(kGcsDefaultEndpoint);
  std::string bucket;
  // Object-name prefix of this store inside the bucket. Empty, or a folder-like prefix: a missing
  // trailing '/' is added. Must not start with '/'.
  std::string prefix;
  // Access tokens, sent as `Authorization: Bearer`; nullptr sends none (emulators).
  std::shared_ptr<gcs::TokenCache> credentials;
  // Connections, timeouts and the retry policy (408, 429, 5xx and transport failures are retried
  // with full-jitter backoff). `service` is set to "gcs".
  http::ClientOptions http;

  // Objects of at least this many bytes are sent as resumable uploads.
  uint64_t resumable_threshold = 16ull << 20;
  // Bytes per request of a resumable upload: a multiple of 256 KiB (GCS's rule for every chunk
  // but the last).
  uint64_t chunk_size = 16ull << 20;
  // DELETE requests of one Delete call in flight at once (the JSON API deletes one object per
  // request).
  int delete_parallelism = 16;

  // Open creates the bucket if it does not exist (tests; production buckets are provisioned), in
  // `project` (GCS needs one; emulators ignore it).
  bool create_bucket = false;
  std::string project;
};

// The options for `gs://BUCKET/PREFIX` as the server and the CLI open it: `endpoint` if given, else
// STORAGE_EMULATOR_HOST ("HOST:PORT" or a URL), else GCS itself; credentials chosen by
// gcs::TokenSourceFromEnvironment (none with STORAGE_EMULATOR_HOST).
Result<GcsOptions> GcsOptionsFromEnvironment(std::string bucket, std::string prefix, std::string endpoint = "");

class GcsStore final : public ObjectStore {
 public:
  // Checks the options and, with a one-object LIST under the prefix, that the bucket exists and the
  // credentials may read it (creating the bucket if `create_bucket`). FAILED_PRECONDITION: refused
  // credentials or permissions, no such bucket; INVALID_ARGUMENT: bad options; UNAVAILABLE: no
  // answer after every attempt.
  static Result<std::shared_ptr<GcsStore>> Open(GcsOptions options);

  ~GcsStore() override;
  GcsStore(const GcsStore&) = delete;
  GcsStore& operator=(const GcsStore&) = delete;

  std::string Describe() const override;  // "gs://bucket/prefix"
  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;
  // true at every object size (see above).
  bool SupportsCreateOnly() const override { return true; }

  // Monotonic counters since Open.
  struct Stats {
    uint64_t requests = 0;  // HTTP attempts, retries and resumable chunks included
    uint64_t retries = 0;
    uint64_t resumable_uploads = 0;  // completed
    uint64_t resumes = 0;            // failed chunks after which GCS was asked what it holds
  };
  Stats GetStats() const;

  class Impl;

 private:
  explicit GcsStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Helpers of the implementation, exposed for unit tests.
namespace gcs {

// The endpoint URL of a STORAGE_EMULATOR_HOST value: "HOST:PORT" becomes "http://HOST:PORT"; a
// value with a scheme is kept; a trailing '/' is dropped.
std::string EmulatorEndpoint(std::string_view host);

// The persisted size of a resumable upload from a 308 answer's Range header ("bytes=0-N" → N + 1;
// no header → 0). INTERNAL for a malformed header.
Result<uint64_t> PersistedBytes(const std::string* range_header);

}  // namespace gcs
}  // namespace tb::objstore
