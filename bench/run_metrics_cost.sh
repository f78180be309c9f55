#!/usr/bin/env bash
# What Prometheus metrics cost on the ingest path: OTLP/gRPC ingest with metrics on against metrics
# off (TRACEBUCKET_METRICS_ENABLED=false), interleaved in one run on one machine.
#
#   bench/run_metrics_cost.sh [BUILD_DIR] [SECONDS] [PAIRS] [CONCURRENCY] [BATCH]   (defaults: build 10 4 16 512)
#
# Each pair runs `tracebucket serve` twice on a fresh data dir, once with metrics and once without,
# in the order on/off for odd pairs and off/on for even ones (ABBA), so that a machine that speeds
# up or slows down during the run weighs on both sides alike. The server is head-only
# (--no-background-flush, a head budget the run cannot fill) with the WAL fdatasync'd per group
# commit as by default: no block is built, so the figures are the ingest path alone, where metrics
# weigh the most. The server runs on core 0 and bench/tb_ingest_loadgen (same seed every run) on
# core 1, as in run_ingest.sh; a scrape of /metrics during each "on" run checks that they count.
# CPU is the server's utime + stime over the load (/proc/<pid>/stat).
#
# The last line is machine-readable:
#   RESULT metrics_cost seconds=S pairs=P on_spans_per_sec=MEDIAN off_spans_per_sec=MEDIAN
#     ratio=ON/OFF (of the medians) pair_ratio_median=.. on_cpu_s_per_mspan=.. off_cpu_s_per_mspan=..
#     cost_pct=100*(1-ratio) refused=R (requests refused over all runs; must be 0)
set -euo pipefail
build=${1:-build}
seconds=${2:-10}
pairs=${3:-4}
concurrency=${4:-16}
batch=${5:-512}
source "$(dirname "$0")/lib.sh"
dir=$(mktemp -d)
scratch_dirs+=("$dir")

# run on|off: one server, one load; appends "spans_per_sec cpu_s_per_mspan refused" to $dir/<on|off>.
run() {
  local mode=$1 port=$((20000 + RANDOM % 20000)) pid before after load spans
  rm -rf "$dir/data"
  TRACEBUCKET_METRICS_ENABLED=$([[ $mode == on ]] && echo true || echo false) \
    taskset -c 0 "$build/tracebucket" serve --data-dir "$dir/data" --grpc-listen "127.0.0.1:$port" \
    --http-listen "127.0.0.1:$((port + 1))" --log-level warn --no-background-flush --head-memory-budget 6GiB &
  pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$((port + 1))/ready"
  before=$(cpu_ticks "$pid")
  load=$(taskset -c 1 "$build/bench/tb_ingest_loadgen" --target "127.0.0.1:$port" --concurrency "$concurrency" \
    --batch "$batch" --seconds "$seconds" | tail -1)
  after=$(cpu_ticks "$pid")
  spans=$(field spans_acked "$load")
  if [[ $mode == on ]]; then
    local counted
    counted=$(curl -fs "http://127.0.0.1:$((port + 1))/metrics" |
      awk '/^tracebucket_ingest_spans_total\{door="otlp_grpc"/ {print $2}')
    [[ $(awk -v c="$counted" -v s="$spans" 'BEGIN {print (c + 0 == s + 0)}') == 1 ]] ||
      { echo "metrics counted ${counted:-nothing}, the load generator $spans acknowledged spans" >&2; exit 1; }
  fi
  stop_pid "$pid"
  local sps cpu
  sps=$(field spans_per_sec "$load")
  cpu=$(awk -v t="$((after - before))" -v hz="$ticks" -v n="$spans" 'BEGIN {printf "%.3f", (n > 0 ? t / hz * 1e6 / n : 0)}')
  echo "$sps $cpu $(field refused "$load")" >>"$dir/$mode"
  echo "metrics $mode: $load cpu_s_per_mspan=$cpu" >&2
}

for pair in $(seq 1 "$pairs"); do
  if ((pair % 2)); then run on; run off; else run off; run on; fi
done

on_sps=$(cut -d' ' -f1 "$dir/on" | median)
off_sps=$(cut -d' ' -f1 "$dir/off" | median)
on_cpu=$(cut -d' ' -f2 "$dir/on" | median)
off_cpu=$(cut -d' ' -f2 "$dir/off" | median)
pair_ratio=$(paste -d' ' "$dir/on" "$dir/off" | awk '{print $1 / $4}' | median)
refused=$(cat "$dir/on" "$dir/off" | awk '{r += $3} END {print r + 0}')
awk -v s="$seconds" -v p="$pairs" -v on="$on_sps" -v off="$off_sps" -v pr="$pair_ratio" -v oncpu="$on_cpu" \
  -v offcpu="$off_cpu" -v refused="$refused" 'BEGIN {
    printf "RESULT metrics_cost seconds=%s pairs=%s on_spans_per_sec=%.0f off_spans_per_sec=%.0f ratio=%.4f ",
      s, p, on, off, on / off
    printf "pair_ratio_median=%.4f on_cpu_s_per_mspan=%.3f off_cpu_s_per_mspan=%.3f cost_pct=%.2f refused=%s\n",
      pr, oncpu, offcpu, 100 * (1 - on / off), refused
  }'
