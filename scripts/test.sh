#!/usr/bin/env bash
# Installs the dependencies, builds, and runs every test: unit tests (the S3 store's against a
# throw-away Ceph RGW), the interop and Jaeger conformance suites against the real binary, every
# libFuzzer target for a bounded time, the concurrent parts' unit tests under ThreadSanitizer, then
# the unit tests again under ASan + UBSan. The last stage is a ctest run, so the output ends with its
# summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)

bash scripts/build.sh build -DTB_WERROR=ON

# A throw-away S3 server (Ceph RGW, scripts/s3-up.sh) for the S3 store's tests; the unit and the
# ASan stage share it. Its variables (S3_ENDPOINT, ...) are exported for ctest; the trap stops it.
export RGW_DIR
RGW_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tb-rgw.XXXXXX")
trap 'bash scripts/s3-down.sh' EXIT
bash scripts/s3-up.sh >/dev/null || { tail -n 20 "$RGW_DIR"/log/*.log >&2 || true; exit 1; }
source "$RGW_DIR/env"
# A throw-away GCS emulator (fake-gcs-server, scripts/gcs-up.sh) for the GCS store's tests, built from its
# Go module when Go >= 1.24 is here; otherwise the tests are told why they skip.
export GCS_DIR
GCS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tb-gcs.XXXXXX")
trap 'bash scripts/s3-down.sh; bash scripts/gcs-down.sh' EXIT
if gcs_env=$(bash scripts/gcs-up.sh); then
  eval "$gcs_env"
  export STORAGE_EMULATOR_HOST
else
  export TB_GCS_EMULATOR_SKIPPED="scripts/gcs-up.sh could not start fake-gcs-server (needs Go >= 1.24)"
  echo "GCS emulator tests skipped: $TB_GCS_EMULATOR_SKIPPED"
fi
# A throw-away Azure Blob emulator (Azurite, scripts/azurite-up.sh, installed from npm) for the Azure store's
# tests; without npm the tests are told why they skip. Only exit 3 (no npm, or npm could not install it)
# skips: any other failure fails the run.
export AZURITE_DIR
AZURITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tb-azurite.XXXXXX")
trap 'bash scripts/s3-down.sh; bash scripts/gcs-down.sh; bash scripts/azurite-down.sh' EXIT
azurite_rc=0
azurite_env=$(bash scripts/azurite-up.sh) || azurite_rc=$?
if [[ $azurite_rc == 0 ]]; then
  eval "$azurite_env"
  export AZURITE_BLOB_ENDPOINT AZURE_STORAGE_ACCOUNT AZURE_STORAGE_KEY
elif [[ $azurite_rc == 3 ]]; then
  export TB_AZURITE_SKIPPED="scripts/azurite-up.sh could not install Azurite with npm"
  echo "Azure emulator tests skipped: $TB_AZURITE_SKIPPED"
else
  exit 1
fi

(cd build && ctest --output-on-failure --timeout 900 -j2 -L unit)
(cd build && ctest --output-on-failure --timeout 900 -L interop)
# deploy/: the systemd unit, the Kubernetes manifests' schemas and the alerting rules (tests/deploy).
(cd build && ctest --output-on-failure --timeout 300 -L deploy)

# The Jaeger stage (tests/jaeger): Jaeger's own programs and e2e suite, fetched as a Go module, against the binary.
if go_version=$(go env GOVERSION 2>/dev/null) && [ "$(printf '%s\n' go1.24 "$go_version" | sort -V | head -n1)" = go1.24 ]; then
  (cd build && ctest --output-on-failure --timeout 2400 -L jaeger)
else
  echo "Jaeger stage skipped: it needs Go >= 1.24 to fetch and build Jaeger, and this machine has ${go_version:-no Go}"
fi

# libFuzzer (fuzz/, docs/fuzzing.md): each target 25 s from its committed seed corpus (about 3 minutes),
# built with ASan + UBSan in build-fuzz, where the last stage builds and runs the unit tests too.
bash scripts/fuzz.sh -t 25

# ThreadSanitizer over the concurrent parts (issue 12 item 9): WAL group commit, head, ingest, the
# disk cache and the other object-store decorators, parallel reads and the worker pool, flush,
# compaction and purge. Only these test binaries are built; gRPC, libcurl and the cloud emulators
# stay out (uninstrumented libraries give false reports), and the block format's long randomized
# searches and byte-flip sweeps are left to the release stage, as under ASan.
tsan_tests=(tb_util_test tb_wal_test tb_head_test tb_ingest_test tb_query_test tb_objstore_test tb_block_test tb_db_test)
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TSAN=ON >/dev/null
ninja -C build-tsan "${tsan_tests[@]}"
# ctest lists the binaries not built here as *_NOT_BUILT: left out with the rest.
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/../scripts/tsan.supp" \
  ctest --output-on-failure --timeout 900 -j2 -L unit \
  -E '_NOT_BUILT|BlockSearch\.|BlockCorruption\.|BlockMetering\.|S3|Gcs|GCS|Azure|Rgw|"(s3|gcs|azure)"')

# The unit tests under ASan + UBSan, built in the fuzz stage's tree (Clang 14, both sanitizers, every
# library already compiled there with libFuzzer's coverage hooks, which the tests leave unused): only
# the test binaries are left to build. The programs and benchmarks were built (and warned about) above.
ninja -C build-fuzz unit_tests
# The block format's long randomized searches and byte-flip sweeps, and the compaction crash test on the
# cloud stores (2-2.5 min each under the sanitizers), run in the release stage above; under the sanitizers
# (about 10x slower) the round-trip and edge-case tests, and the crash test on memory and the local
# folder, cover the same code.
(cd build-fuzz && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --timeout 900 -j2 -L unit \
  -E 'BlockSearch\.|BlockCorruption\.|BlockMetering\.|CrashTest\..*"(s3|gcs|azure)"')
