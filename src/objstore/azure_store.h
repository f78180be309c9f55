// AzureStore: an ObjectStore on an Azure Blob Storage container, spoken over the Blob service's REST
// API with the shared HTTP layer (http_client.h: pooled libcurl handles, one retry policy).
// Requests are signed with the account key (SharedKey, HMAC-SHA256 over the string-to-sign of
// docs/format/azure-store.md) or carry a SAS token. docs/format/azure-store.md describes the
// requests, the signing, conditional writes and retries.
//
// Keys map to block blobs "<prefix><key>" in the container; List returns keys relative to the
// prefix. Create-only puts send `If-None-Match: *`: with Put Blob for objects below
// `block_threshold`, and with Put Block List — the commit that makes a blob of staged blocks
// exist — for larger ones, so create-only is atomic at every size. Staged block ids carry a random
// per-upload tag, so racing writers of one name never commit each other's blocks.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/http_client.h"
#include "objstore/object_store.h"
#include "util/status.h"

namespace tb::objstore {

struct AzureOptions {
  // The account's Blob service URL: "https://ACCOUNT.blob.core.windows.net" (empty: that, from
  // `account`), or an emulator's path-style "http://127.0.0.1:10000/ACCOUNT". Containers are
  // "<endpoint>/<container>".
  std::string endpoint;
  std::string account;
  std::string container;
  // Blob-name prefix of this store inside the container. Empty, or a folder-like prefix: a missing
  // trailing '/' is added. Must not start with '/'.
  std::string prefix;
  // Credentials: the account key (base64, as the portal shows it) signs every request with
  // SharedKey; otherwise a SAS token ("sv=...&sig=...", a leading '?' is ignored) is appended to
  // every URL. Exactly one of the two.
  std::string account_key;
  std::string sas_token;
  // Where the credentials came from, for `config check` and errors ("AZURE_STORAGE_KEY"); never
  // a secret.
  std::string credentials_source;
  // Connections, timeouts and the retry policy (408, 429, 5xx other than 501, ServerBusy,
  // OperationTimedOut and transport failures are retried with full-jitter backoff). `service` is
  // set to "azure".
  http::ClientOptions http;

  // Objects of at least this many bytes are staged as blocks and committed with a block list.
  uint64_t block_threshold = 64ull << 20;
  // Bytes per staged block (1 .. 4000 MiB); raised if an object would need more than 50,000.
  uint64_t block_size = 16ull << 20;
  // Blocks of one upload in flight at once, and DELETE requests of one Delete call (Azure deletes
  // one blob per request).
  int upload_parallelism = 4;
  int delete_parallelism = 16;

  // Open creates the container if it does not exist (tests; production containers are provisioned).
  bool create_container = false;
};

// The options for `azblob://CONTAINER/PREFIX` as the server and the CLI open them, with the
// credentials and endpoint from the environment as Azure's tools name them:
// AZURE_STORAGE_CONNECTION_STRING (AccountName, AccountKey or SharedAccessSignature, BlobEndpoint
// or DefaultEndpointsProtocol + EndpointSuffix) if set, else AZURE_STORAGE_ACCOUNT with
// AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN. `endpoint`, when given, wins over the environment's.
// INVALID_ARGUMENT when no usable credentials are there.
Result<AzureOptions> AzureOptionsFromEnvironment(std::string container, std::string prefix, std::string endpoint = "");

class AzureStore final : public ObjectStore {
 public:
  // Checks the options and, with a one-blob List Blobs under the prefix, that the container exists
  // and the credentials may read it (creating it if `create_container`). FAILED_PRECONDITION:
  // refused credentials or permissions, no such container; INVALID_ARGUMENT: bad options;
  // UNAVAILABLE: no answer after every attempt.
  static Result<std::shared_ptr<AzureStore>> Open(AzureOptions options);

  ~AzureStore() override;
  AzureStore(const AzureStore&) = delete;
  AzureStore& operator=(const AzureStore&) = delete;

  std::string Describe() const override;  // "azblob://container/prefix"
  Status Put(std::string_view key, std::string_view data, PutMode mode = PutMode::kOverwrite) override;
  Result<std::string> Get(std::string_view key, uint64_t offset = 0, uint64_t length = kToEnd) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<ListPage> List(std::string_view prefix, std::string_view token, int max_keys = 1000) override;
  Status Delete(const std::vector<std::string>& keys) override;
  // true at every object size (see above).
  bool SupportsCreateOnly() const override { return true; }

  // Monotonic counters since Open.
  struct Stats {
    uint64_t requests = 0;  // HTTP attempts, retries and staged blocks included
    uint64_t retries = 0;
    uint64_t block_uploads = 0;  // objects committed from staged blocks
  };
  Stats GetStats() const;

  // Deletes the container with every blob in it (tests only: Azurite slows down with every blob it
  // holds, so each test removes its own).
  Status DeleteContainerForTest();

  class Impl;

 private:
  explicit AzureStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Helpers of the implementation, exposed for unit tests.
namespace azure {

// The SharedKey string-to-sign of a request for the Blob service (docs/format/azure-store.md,
// "Signing"): the verb, the standard headers' values in their fixed order, the x-ms-* headers
// (lower-case, sorted, "name:value\n"), then "/ACCOUNT" + the URL's path and its query parameters
// (lower-case names, sorted, values decoded, "\nname:value").
std::string StringToSign(const http::Request& request, std::string_view account);
// Adds "Authorization: SharedKey ACCOUNT:SIGNATURE" for the request's current headers.
// INVALID_ARGUMENT if the key is not base64.
Status SignSharedKey(http::Request& request, std::string_view account, std::string_view base64_key);

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 1123), as x-ms-date wants it.
std::string HttpDate(std::chrono::system_clock::time_point t);

// RFC 4648 base64, padded; INVALID_ARGUMENT for anything else.
Result<std::string> Base64Decode(std::string_view text);

struct ConnectionString {
  std::string account, account_key, sas_token, blob_endpoint;
};
// "Key=Value;Key=Value" as Azure's tools write it; the blob endpoint from BlobEndpoint, or from
// DefaultEndpointsProtocol (https) and EndpointSuffix (core.windows.net) with the account.
// INVALID_ARGUMENT for a malformed string or one without an account or credentials.
Result<ConnectionString> ParseConnectionString(std::string_view text);

// The block id of block `index` of the upload tagged `tag`: base64 of "<tag>-<index, 6 digits>",
// the same length for every block of a blob as Azure requires.
std::string BlockId(std::string_view tag, size_t index);

// The <BlockList> document of Put Block List, committing `ids` (Latest) in order.
std::string BlockListXml(const std::vector<std::string>& ids);

struct ListResult {
  std::vector<ObjectInfo> objects;  // full blob names
  std::string next_marker;
};
// Parses a List Blobs answer (EnumerationResults): names, Content-Length, NextMarker.
Result<ListResult> ParseListBlobs(std::string_view xml);

}  // namespace azure
}  // namespace tb::objstore
