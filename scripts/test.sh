#!/usr/bin/env bash
# Installs the dependencies, builds, and runs every test: unit tests, the interop and Jaeger
# conformance suites against the real binary, then the unit tests again under ASan + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)

bash scripts/build.sh build -DTB_WERROR=ON
(cd build && ctest --output-on-failure --timeout 900 -j2 -L unit)
(cd build && ctest --output-on-failure --timeout 900 -L interop)

bash scripts/build.sh build-asan -DTB_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --timeout 900 -j2 -L unit)
