#!/usr/bin/env bash
# Installs the dependencies, builds, and starts tracebucket on the local-folder default
# (data in ./data; OTLP/gRPC and Jaeger storage v2 on :4317, OTLP/HTTP on :4318).
# Extra arguments go to `tracebucket serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
exec build/tracebucket serve --data-dir ./data "$@"
