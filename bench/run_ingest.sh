#!/usr/bin/env bash
# Durable OTLP/gRPC ingest benchmark: starts tracebucket (WAL on, fdatasync per group commit) on
# core 0, runs the load generator on core 1, then prints the server's peak RSS.
#   bench/run_ingest.sh [BUILD_DIR] [SECONDS] [CONCURRENCY] [BATCH]
set -euo pipefail
build=${1:-build}
seconds=${2:-20}
concurrency=${3:-16}
batch=${4:-512}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
taskset -c 0 "$build/tracebucket" serve --data-dir "$dir" --grpc-listen "127.0.0.1:$port" \
  --http-listen "127.0.0.1:$((port + 1))" --head-memory-budget 16GiB --log-level warn &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$((port + 1))/ready" >/dev/null && break; sleep 0.1; done
taskset -c 1 "$build/bench/tb_ingest_loadgen" --target "127.0.0.1:$port" --concurrency "$concurrency" \
  --batch "$batch" --seconds "$seconds"
grep -E 'VmHWM' "/proc/$server/status"
du -sh "$dir/wal"
