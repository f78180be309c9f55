#!/usr/bin/env bash
# One very large trace read through the Jaeger UI's door: how long GET /api/traces/{id} takes and
# how much memory the server's answer costs, for one or two tracebucket binaries in one run.
#
#   bash bench/run_big_trace.sh [BUILD_DIR]      (default: build)
#
# SPANS (default 50000) spans of one trace, ~400 B of OTLP/JSON each with attributes and an event,
# are sent in one OTLP/JSON POST to a fresh `tracebucket serve` (head only, no flush), then the
# trace is read READS times (default 5) through /api/traces/{id} and once through /api/v3/traces/{id}.
# Reported per binary: the answer's size, p50 and max seconds of the /api reads (curl's
# time_total), the api_v3 read, and the server's peak RSS (VmHWM) after the POST and after the
# reads: the difference is what answering cost in memory.
# TRACEBUCKET=PATH (default BUILD_DIR/tracebucket) and BASELINE=PATH (optional, a second binary,
# e.g. an older commit's) are measured alternately, READS reads each, in one run.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ $build = /* ]] || build=$repo/$build
spans=${SPANS:-50000}
reads=${READS:-5}
binaries=("${TRACEBUCKET:-$build/tracebucket}")
[[ -n ${BASELINE:-} ]] && binaries+=("$BASELINE")

source "$repo/bench/lib.sh"
scratch=$(mktemp -d)
scratch_dirs+=("$scratch")
trace_id=5b8efff798038103d269b633813fc60c

python3 - "$spans" "$trace_id" >"$scratch/trace.json" <<'PY'
import json, sys, time
n, trace = int(sys.argv[1]), sys.argv[2]
services = [f"service-{k}" for k in range(20)]
by_service = {s: [] for s in services}
t0 = (int(time.time()) - 3600) * 1_000_000_000  # an hour ago: inside any retention
for i in range(n):
    svc = services[i % len(services)]
    span = {
        "traceId": trace, "spanId": f"{i + 1:016x}", "name": f"operation-{i % 50}", "kind": 2,
        "startTimeUnixNano": str(t0 + i * 1000), "endTimeUnixNano": str(t0 + i * 1000 + 500_000),
        "attributes": [
            {"key": "http.method", "value": {"stringValue": "GET"}},
            {"key": "http.url", "value": {"stringValue": f"https://example.com/items/{i}"}},
            {"key": "http.status_code", "value": {"intValue": "200"}},
            {"key": "db.rows", "value": {"doubleValue": i / 7}},
        ],
        "events": [{"timeUnixNano": str(t0 + i * 1000 + 10), "name": "cache miss",
                    "attributes": [{"key": "key", "value": {"stringValue": f"k{i}"}}]}],
        "status": {"code": 1},
    }
    if i > 0:
        span["parentSpanId"] = f"{(i - 1) // 4 + 1:016x}"
    by_service[svc].append(span)
doc = {"resourceSpans": [
    {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": s}},
                                 {"key": "host.name", "value": {"stringValue": "host-1"}}]},
     "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}
    for s, spans in by_service.items()]}
json.dump(doc, sys.stdout, separators=(",", ":"))
PY
echo "trace: $spans spans, $(stat -c %s "$scratch/trace.json") bytes of OTLP/JSON"


for binary in "${binaries[@]}"; do
  http=$(free_port) grpc=$(free_port)
  rm -rf "$scratch/data"
  "$binary" serve --data-dir "$scratch/data" --http-listen "127.0.0.1:$http" --grpc-listen "127.0.0.1:$grpc" \
    --no-background-flush >"$scratch/server.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$http/ready"
  curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$scratch/trace.json" \
    "http://127.0.0.1:$http/v1/traces" >/dev/null
  before=$(peak_rss_mib $pid)
  times=()
  for _ in $(seq "$reads"); do
    times+=("$(curl -sf -o "$scratch/answer.json" -w '%{time_total}' "http://127.0.0.1:$http/api/traces/$trace_id")")
  done
  after=$(peak_rss_mib $pid)
  v3=$(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$http/api/v3/traces/$trace_id")
  got=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["data"][0]["spans"]))' "$scratch/answer.json")
  [[ $got = "$spans" ]] || { echo "FAIL: $binary answered $got spans, not $spans" >&2; exit 1; }
  sorted=$(printf '%s\n' "${times[@]}" | sort -n)
  p50=$(echo "$sorted" | sed -n "$(((reads + 1) / 2))p")
  max=$(echo "$sorted" | tail -1)
  echo "RESULT big_trace binary=$binary spans=$spans answer_bytes=$(stat -c %s "$scratch/answer.json")" \
    "api_p50_s=$p50 api_max_s=$max api_v3_s=$v3 rss_after_post_mib=$before" \
    "rss_after_reads_mib=$after answer_rss_mib=$((after - before))"
  stop_pid "$pid"
done
