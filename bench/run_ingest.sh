#!/usr/bin/env bash
# Durable OTLP/gRPC ingest benchmark against its floor, in one run on one machine.
#
#   bench/run_ingest.sh [BUILD_DIR] [SECONDS] [CONCURRENCY] [BATCH]     (defaults: build 60 16 512)
#
# 1. floor: bench/tb_decode_sink (same gRPC server settings; decodes each Export into the span
#    model and drops it) on core 0, the load generator on core 1, for SECONDS.
# 2. ours: `tracebucket serve` with its defaults (WAL fdatasync'd per group commit, 320 MiB head
#    budget, 128 MiB blocks flushed to <data-dir>/blocks in the background) on core 0, the same load
#    generator with the same seed on core 1, for SECONDS.
# SERVE_ARGS adds flags to `tracebucket serve` (e.g. SERVE_ARGS="--head-admission-wait 0").
# Both runs send the same pre-encoded requests. CPU is the server's utime + stime
# (/proc/<pid>/stat) over the load generator's run; peak RSS is the server's VmHWM.
#
# The last line is machine-readable, space-separated key=value pairs after the word RESULT:
#   RESULT ingest seconds=S concurrency=C batch=B floor_spans_per_sec=F spans_per_sec=N ratio=N/F
#     ack_p50_ms=.. ack_p99_ms=.. refused=R cpu_s_per_mspan=.. floor_cpu_s_per_mspan=..
#     peak_rss_mib=.. floor_peak_rss_mib=.. blocks=K   (blocks written by the end of the run)
# (spans_per_sec counts acknowledged spans only; refused = requests answered RESOURCE_EXHAUSTED.)
set -euo pipefail
build=${1:-build}
seconds=${2:-60}
concurrency=${3:-16}
batch=${4:-512}
source "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
scratch_dirs+=("$dir")
port=$((20000 + RANDOM % 20000))

# Runs the load generator against 127.0.0.1:$port for `seconds` while the server $pid is measured;
# sets load (its output line), cpu (server CPU seconds during the run) and rss (MiB).
measure() {
  local before after
  before=$(cpu_ticks "$pid")
  load=$(taskset -c 1 "$build/bench/tb_ingest_loadgen" --target "127.0.0.1:$port" --concurrency "$concurrency" \
    --batch "$batch" --seconds "$seconds" | tail -1)
  after=$(cpu_ticks "$pid")
  cpu=$(awk -v t="$((after - before))" -v hz="$ticks" 'BEGIN {printf "%.2f", t / hz}')
  rss=$(peak_rss_mib "$pid")
  echo "$load cpu_s=$cpu peak_rss_mib=$rss" >&2
}

echo "floor: decode-only sink" >&2
taskset -c 0 "$build/bench/tb_decode_sink" --listen "127.0.0.1:$port" >"$dir/sink.out" &
pid=$!
pids+=("$pid")
for _ in $(seq 1 100); do grep -q ready "$dir/sink.out" 2>/dev/null && break; sleep 0.1; done
measure
floor_load=$load floor_cpu=$cpu floor_rss=$rss
stop_pid "$pid"

echo "ours: tracebucket serve (WAL on, blocks flushing)" >&2
port=$((port + 2))
taskset -c 0 "$build/tracebucket" serve --data-dir "$dir/data" --grpc-listen "127.0.0.1:$port" \
  --http-listen "127.0.0.1:$((port + 1))" --log-level warn ${SERVE_ARGS:-} &
pid=$!
pids+=("$pid")
wait_http "http://127.0.0.1:$((port + 1))/ready"
measure
blocks=$(find "$dir/data" -name meta 2>/dev/null | wc -l)

floor_sps=$(field spans_per_sec "$floor_load")
sps=$(field spans_per_sec "$load")
spans=$(field spans_acked "$load")
floor_spans=$(field spans_acked "$floor_load")
awk -v s="$seconds" -v c="$concurrency" -v b="$batch" -v fs="$floor_sps" -v n="$sps" \
  -v p50="$(field ack_p50_ms "$load")" -v p99="$(field ack_p99_ms "$load")" -v refused="$(field refused "$load")" \
  -v cpu="$cpu" -v fcpu="$floor_cpu" -v spans="$spans" -v fspans="$floor_spans" -v rss="$rss" -v frss="$floor_rss" \
  -v blocks="$blocks" 'BEGIN {
    printf "RESULT ingest seconds=%s concurrency=%s batch=%s floor_spans_per_sec=%s spans_per_sec=%s ratio=%.3f ",
      s, c, b, fs, n, (fs > 0 ? n / fs : 0)
    printf "ack_p50_ms=%s ack_p99_ms=%s refused=%s cpu_s_per_mspan=%.2f floor_cpu_s_per_mspan=%.2f ",
      p50, p99, refused, (spans > 0 ? cpu * 1e6 / spans : 0), (fspans > 0 ? fcpu * 1e6 / fspans : 0)
    printf "peak_rss_mib=%s floor_peak_rss_mib=%s blocks=%s\n", rss, frss, blocks
  }'
