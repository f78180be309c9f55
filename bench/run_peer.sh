#!/usr/bin/env bash
# A peer, side by side: tracebucket against Jaeger's embedded Badger store, in one run on one
# machine, on the same seeded workload, written through the same OTLP door and read through the
# same query door.
#
#   bash bench/run_peer.sh [BUILD_DIR]        (default: build; a Release or RelWithDebInfo build)
#
# Systems (SYSTEMS, default "badger jaeger-tb tb", run in that order):
#   badger     `jaeger` v2 with its embedded Badger store (folders under the scratch dir, Badger's
#              defaults: writes not fsync'd, BADGER_SYNC=true sets `consistency: true`)
#   jaeger-tb  `jaeger` v2 with tracebucket behind it as remote storage (the `grpc` backend: writes
#              go OTLP → Jaeger → jaeger_storage_exporter → tracebucket's OTLP/gRPC, reads through
#              the Remote Storage API v2)
#   tb         `tracebucket serve` alone, with its defaults
# (TRACEBUCKET=PATH runs another tracebucket binary, e.g. to compare a change.)
# Jaeger is the binary of tests/jaeger/fetch.sh (Jaeger v2 from the Go module; JAEGER=PATH uses
# another one) with a config this script writes: an OTLP/gRPC receiver, no batch processor and an
# exporter without a queue, so that an acknowledgement means the store took the spans (as
# tracebucket's does), no self-telemetry (metrics, traces, query tracing), and every port (OTLP,
# query HTTP and gRPC) a free one.
#
# For each system, in turn, pinned to SYSTEM_CPUS (default 0) with the clients on CLIENT_CPUS (1):
#  1. start it on free ports, wait until /api/services answers;
#  2. ingest: tb_ingest_loadgen --replay sends the data set (tb_workload --spans SPANS, default
#     2,000,000, seed SEED, traces spread over 48 h) once, CONCURRENCY (16) senders, to the system's
#     OTLP/gRPC port; refused requests are retried until acknowledged. spans/s = spans / time to the
#     last acknowledgement;
#  3. until durable: tracebucket gets POST /admin/flush (head → block: every span is in a block);
#     then the script waits until the system's processes are idle (< 5% of a core for 3 s; that
#     idle time is not counted). CPU s per M spans = utime + stime of all the system's processes
#     (Jaeger and tracebucket in jaeger-tb) from the start of ingest to idle, per million spans;
#  4. reads: tb_peer_query against the query HTTP API, Jaeger's `/api` (badger, jaeger-tb) or
#     tracebucket's own `/api` (tb): QUERIES (20) searches per kind and window, LOOKUPS (200) trace
#     IDs; it fails the system's reads if a search finds nothing or a trace has the wrong span count;
#  5. peak RSS: VmHWM of each process (the whole run: ingest and reads);
#  6. stop (SIGTERM; Jaeger closes Badger, which writes its memtables out), then bytes at rest:
#     `du` of the store's folders (Badger: keys and values; tracebucket: its whole data dir, WAL
#     included, but not <data-dir>/cache, a copy of blocks kept for reads from S3 and empty here).
#     The figure is given with and without tracebucket's WAL: after the flush every WAL record is
#     also in a block, but the active segment (up to 64 MiB) is only deleted once a later segment
#     is covered by a flush, so it is a bounded constant, not a per-span cost. (Badger, closed,
#     has written its memtables into its tables and deleted their logs.)
#
# Exit status 1 when a system did not acknowledge every span of the data set exactly once or a read
# check failed (tests/jaeger/peer_smoke.sh runs the script small for that).
# Output: the tools' RESULT lines, one `RESULT peer system=...` line per system, and a markdown table
# with the ratios tracebucket / Badger (BENCHMARKS.md, "Issue 14: a peer, side by side"). Logs and
# results are in $PEER_DIR (default: a new folder under /var/tmp/tracebucket-bench); the stores'
# folders and the data set are deleted after use unless KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
spans=${SPANS:-2000000}
seed=${SEED:-1}
concurrency=${CONCURRENCY:-16}
queries=${QUERIES:-20}
lookups=${LOOKUPS:-200}
systems=${SYSTEMS:-badger jaeger-tb tb}
system_cpus=${SYSTEM_CPUS:-0}
client_cpus=${CLIENT_CPUS:-1}
badger_sync=${BADGER_SYNC:-false}
out=${PEER_DIR:-/var/tmp/tracebucket-bench/peer-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

for tool in tracebucket bench/tb_workload bench/tb_ingest_loadgen bench/tb_peer_query; do
  [[ -x $build/$tool ]] || { echo "run_peer: $build/$tool is not built" >&2; exit 2; }
done
tracebucket=${TRACEBUCKET:-$build/tracebucket}
jaeger=${JAEGER:-$(tests/jaeger/fetch.sh jaeger)/cmd/jaeger/jaeger}
[[ -x $jaeger ]] || { echo "run_peer: no Jaeger binary at $jaeger" >&2; exit 2; }

source bench/lib.sh
# Sets idle_ticks: the CPU ticks of pids when they became idle (< 5% of a core for 3 s in a row),
# waiting at most 300 s.
wait_idle() {
  local prev now quiet=0
  prev=$(cpu_ticks "${pids[@]}")
  idle_ticks=$prev
  for _ in $(seq 1 300); do
    sleep 1
    now=$(cpu_ticks "${pids[@]}")
    if ((now - prev <= ticks / 20)); then
      ((quiet == 0)) && idle_ticks=$prev
      quiet=$((quiet + 1))
      ((quiet >= 3)) && return 0
    else
      quiet=0
    fi
    prev=$now
  done
  idle_ticks=$now
  echo "run_peer: still busy after 300 s; counting CPU until now" >&2
}

# The data set: traces spread over 48 h (mean ~10.6 spans per trace), like tb_search_bench's.
dataset="$out/workload.bin"
gap=$(awk -v s="$spans" 'BEGIN {printf "%.0f", 48 * 3600e9 * 10.6 / s}')
"$build/bench/tb_workload" --spans "$spans" --seed "$seed" --trace-gap-ns "$gap" --out "$dataset" >"$out/workload.txt"
head -1 "$out/workload.txt" >&2
data_spans=$(awk 'NR == 1 {print $2 + 0}' "$out/workload.txt")

# Writes a Jaeger v2 config to $1: OTLP/gRPC in, the storage backend of $2 (YAML lines indented
# under the backend's name) out, the query service on its own ports.
jaeger_config() {
  cat >"$1" <<EOF
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    traces:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      store:
$2
  jaeger_query:
    # On by default in v2: Jaeger would trace its own queries to localhost:4317.
    enable_tracing: false
    storage:
      traces: store
    http:
      endpoint: 127.0.0.1:$query_port
    grpc:
      endpoint: 127.0.0.1:$(free_port)
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$otlp_port
exporters:
  jaeger_storage_exporter:
    trace_storage: store
EOF
}

start_tb() {  # data dir $1; sets tb_grpc, tb_http and appends the pid
  tb_grpc=$(free_port) tb_http=$(free_port)
  # The data set's timestamps are fixed (tb_workload starts at 2025-11-24), older than the default
  # 14-day retention, which would hide every span: retention is set to cover them.
  taskset -c "$system_cpus" "$tracebucket" serve --data-dir "$1" --grpc-listen "127.0.0.1:$tb_grpc" \
    --http-listen "127.0.0.1:$tb_http" --log-level warn --retention 36500d 2>>"$out/$system.tracebucket.log" &
  pids+=($!)
  names+=(tracebucket)
  wait_http "http://127.0.0.1:$tb_http/ready"
}
start_jaeger() {  # backend YAML $1
  query_port=$(free_port) otlp_port=$(free_port)
  jaeger_config "$out/$system.jaeger.yaml" "$1"
  taskset -c "$system_cpus" "$jaeger" --config "$out/$system.jaeger.yaml" >>"$out/$system.jaeger.log" 2>&1 &
  pids+=($!)
  names+=(jaeger)
  wait_http "http://127.0.0.1:$query_port/api/services"
}

summary=()
failures=
for system in $systems; do
  pids=() names=()
  store="$out/$system.store"
  rm -rf "$store"
  mkdir -p "$store"
  case $system in
    badger)
      start_jaeger "        badger:
          ephemeral: false
          consistency: $badger_sync
          directories:
            keys: $store/keys
            values: $store/values"
      ingest_target=127.0.0.1:$otlp_port query_url=http://127.0.0.1:$query_port
      ;;
    jaeger-tb)
      start_tb "$store"
      start_jaeger "        grpc:
          endpoint: 127.0.0.1:$tb_grpc
          tls:
            insecure: true
          writer:
            endpoint: 127.0.0.1:$tb_grpc
            tls:
              insecure: true"
      ingest_target=127.0.0.1:$otlp_port query_url=http://127.0.0.1:$query_port
      ;;
    tb)
      start_tb "$store"
      ingest_target=127.0.0.1:$tb_grpc query_url=http://127.0.0.1:$tb_http
      ;;
    *) echo "run_peer: unknown system '$system'" >&2; exit 2 ;;
  esac
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "== $system (load $load)" >&2

  cpu_before=$(cpu_ticks "${pids[@]}")
  ingest_status=0
  ingest=$(taskset -c "$client_cpus" "$build/bench/tb_ingest_loadgen" --target "$ingest_target" --replay "$dataset" \
    --once --concurrency "$concurrency" 2>"$out/$system.ingest.err" | tail -1) || ingest_status=$?
  if ((ingest_status != 0)); then
    echo "run_peer: $system: tb_ingest_loadgen exited with status $ingest_status:" >&2
    cat "$out/$system.ingest.err" >&2
  fi
  echo "RESULT ingest system=$system $ingest" | tee -a "$out/results.txt"
  ingest_end=$(date +%s.%N)
  [[ $system == badger ]] || curl -fsS -X POST -d "" "http://127.0.0.1:$tb_http/admin/flush" >/dev/null
  wait_idle
  durable_s=$(awk -v a="$ingest_end" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a - 3}')
  cpu_s=$(awk -v t="$((idle_ticks - cpu_before))" -v hz="$ticks" 'BEGIN {printf "%.2f", t / hz}')

  reads_ok=yes
  taskset -c "$client_cpus" "$build/bench/tb_peer_query" --url "$query_url" --dataset "$dataset" \
    --queries "$queries" --lookups "$lookups" --seed "$seed" >"$out/$system.query.txt" 2>"$out/$system.query.err" ||
    reads_ok=no
  sed "s/^RESULT peer_query /RESULT peer_query system=$system /" "$out/$system.query.txt" | tee -a "$out/results.txt"
  [[ $reads_ok == yes ]] || { echo "run_peer: $system's reads failed:" >&2; cat "$out/$system.query.err" >&2; }

  rss=
  for i in "${!pids[@]}"; do
    rss+="${rss:+,}${names[$i]}:$(peak_rss_mib "${pids[$i]}")"
  done
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do  # the front (Jaeger) first, then the store behind it
    kill -TERM "${pids[$i]}"
    wait "${pids[$i]}" 2>/dev/null || true
  done
  pids=()
  bytes=$(du -sB1 --exclude=cache "$store" | cut -f1)
  wal_bytes=0
  [[ ! -d $store/wal ]] || wal_bytes=$(du -sB1 "$store/wal" | cut -f1)
  ls -lR "$store" >"$out/$system.store.txt"
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$store"

  acked=$(field spans_acked "$ingest")
  all=$(grep 'kind=all ' "$out/$system.query.txt" || true)
  by_id=$(grep 'kind=trace_by_id ' "$out/$system.query.txt" || true)
  line=$(awk -v sys="$system" -v load="$load" -v acked="$acked" -v sps="$(field spans_per_sec "$ingest")" \
    -v refused="$(field refused "$ingest")" -v failed="$(field failed "$ingest")" -v cpu="$cpu_s" \
    -v durable="$durable_s" -v rss="$rss" -v bytes="$bytes" -v wal="$wal_bytes" -v reads_ok="$reads_ok" \
    -v sp50="$(field p50_ms "$all")" -v sp99="$(field p99_ms "$all")" \
    -v ip50="$(field p50_ms "$by_id")" -v ip99="$(field p99_ms "$by_id")" 'BEGIN {
      printf "RESULT peer system=%s load=%s spans=%s spans_per_sec=%s refused=%s failed=%s cpu_s=%s ", sys, load,
        acked, sps, refused, failed, cpu
      printf "cpu_s_per_mspan=%.2f durable_after_s=%s peak_rss_mib=%s bytes_at_rest=%s bytes_per_span=%.2f ",
        (acked > 0 ? cpu * 1e6 / acked : 0), durable, rss, bytes, (acked > 0 ? bytes / acked : 0)
      printf "wal_bytes=%s bytes_per_span_without_wal=%.2f ", wal, (acked > 0 ? (bytes - wal) / acked : 0)
      printf "search_p50_ms=%s search_p99_ms=%s by_id_p50_ms=%s by_id_p99_ms=%s reads_ok=%s\n", sp50, sp99, ip50,
        ip99, reads_ok
    }')
  echo "$line" | tee -a "$out/results.txt"
  summary+=("$line")
  [[ $reads_ok == yes && $(field failed "$ingest") == 0 && $acked == "$data_spans" ]] ||
    failures+=" $system"
done

# The table: one column per system, then tracebucket alone / Badger (below 1 is better for every
# figure but spans/s, where above 1 is).
{
  echo
  printf '| figure |'
  for line in "${summary[@]}"; do printf ' %s |' "$(field system "$line")"; done
  echo ' tb / badger |'
  printf '|---|'
  for _ in "${summary[@]}"; do printf -- '---|'; done
  echo '---|'
  row() {  # label, key, ratio wanted (yes/no)
    local label=$1 key=$2 tb= badger= line
    printf '| %s |' "$label"
    for line in "${summary[@]}"; do
      printf ' %s |' "$(field "$key" "$line")"
      [[ $(field system "$line") == tb ]] && tb=$(field "$key" "$line")
      [[ $(field system "$line") == badger ]] && badger=$(field "$key" "$line")
    done
    if [[ $3 == yes && -n $tb && -n $badger ]]; then
      awk -v a="$tb" -v b="$badger" 'BEGIN {printf " %.2f |\n", (b > 0 ? a / b : 0)}'
    else
      echo ' |'
    fi
  }
  row "load average at start" load no
  row "ingest, spans/s" spans_per_sec yes
  row "CPU s per M spans" cpu_s_per_mspan yes
  row "idle after ingest (s)" durable_after_s no
  row "peak RSS, MiB" peak_rss_mib no
  row "bytes at rest per span" bytes_per_span yes
  row "bytes at rest per span, WAL left out" bytes_per_span_without_wal yes
  row "search mix p50, ms" search_p50_ms yes
  row "search mix p99, ms" search_p99_ms yes
  row "trace by ID p50, ms" by_id_p50_ms yes
  row "trace by ID p99, ms" by_id_p99_ms yes
  row "reads correct" reads_ok no
} | tee -a "$out/results.txt"
[[ ${KEEP:-0} == 1 ]] || rm -f "$dataset"  # ~400 bytes per span
echo "run_peer: logs and results in $out" >&2
if [[ -n $failures ]]; then
  echo "run_peer: not every span was acknowledged or not every read was right for:$failures" >&2
  exit 1
fi
