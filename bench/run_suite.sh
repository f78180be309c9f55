#!/usr/bin/env bash
# The benchmark suite: every figure of issue 5 beside its floor or target, measured in one run on
# one machine, then the results table of BENCHMARKS.md (between its suite markers) rewritten.
#
#   bash bench/run_suite.sh [BUILD_DIR]          (default: build; a Release or RelWithDebInfo build)
#
# Steps (each prints a RESULT line that bench/suite_table.py turns into table rows):
#   ingest    bench/run_ingest.sh: durable OTLP/gRPC ingest vs the decode-only sink, INGEST_SECONDS (60)
#   size      tb_block_size_bench SIZE_SPANS (1000000) spans: bytes/span at rest vs zstd -19 of OTLP protobuf
#   tracebyid tb_trace_by_id_bench (when built) on the local folder, then on S3: the server named by
#             S3_ENDPOINT etc., or else a throw-away RGW started by scripts/s3-up.sh (when radosgw is
#             installed; stopped at the end; NO_S3=1 skips S3)
#   restart   tb_restart_bench: Db::Open with a WAL filled to a 1 GiB head budget (the bench's default;
#             the server's is 320 MiB), then
#             `tracebucket serve` on that WAL, from process start to a 200 from GET /ready
#   micro     tb_micro_bench (Google Benchmark, JSON)
#   search    tb_search_bench over SEARCH_SPANS (10000000) spans; the data set is cached under
#             /var/tmp/tracebucket-bench and reused by later runs (SEARCH_REBUILD=1 builds it again,
#             e.g. after a block format change that kept the format version)
# SKIP="search micro" leaves steps out (their rows say so). Logs go to $SUITE_DIR (default: a new
# folder under /var/tmp/tracebucket-bench). UPDATE_DOC=0 prints the table without editing BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ingest_seconds=${INGEST_SECONDS:-60}
size_spans=${SIZE_SPANS:-1000000}
search_spans=${SEARCH_SPANS:-10000000}
skip=" ${SKIP:-} "
out=${SUITE_DIR:-/var/tmp/tracebucket-bench/suite-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
results="$out/results.txt"
: >"$results"

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt")
case $build_type in
  Release | RelWithDebInfo) ;;
  *) echo "run_suite: $build is a '$build_type' build; configure it with -DCMAKE_BUILD_TYPE=Release" >&2; exit 2 ;;
esac
targets=(tracebucket tb_ingest_loadgen tb_decode_sink tb_block_size_bench tb_search_bench tb_restart_bench
  tb_micro_bench)
ninja -C "$build" build.ninja >/dev/null  # re-runs CMake if a CMakeLists changed
grep -q "tb_trace_by_id_bench" "$build/build.ninja" && targets+=(tb_trace_by_id_bench)
# Another change may be half-done in a shared tree: build what builds, and say in the results
# which targets failed (their previous binaries, if any, are then what runs).
build_failed=
nice ninja -k 0 -C "$build" "${targets[@]}" >"$out/build.log" ||
  build_failed=$(sed -n 's/^FAILED: //p' "$out/build.log" | tr '\n' ' ')

{
  echo "SUITE build=$build build_type=$build_type commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo -dirty)"
  echo "SUITE date=$(date -u +%Y-%m-%dT%H:%MZ)"
  [[ -z $build_failed ]] || echo "SUITE build_failed=$build_failed"
  echo "SUITE machine=$(nproc) vCPU $(lscpu | sed -n 's/^Model name: *//p' | head -1) ($(lscpu | sed -n 's/^Hypervisor vendor: *//p')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, Linux $(uname -r)"
} >>"$results"

# Runs step $1 (the rest: its command), logging to $out/$1.log and keeping its RESULT lines,
# each tagged with the load average when the step started.
step() {
  local name=$1
  shift
  if [[ $skip == *" $name "* ]]; then
    echo "SKIPPED $name" >>"$results"
    return
  fi
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  echo "== $name (load $load): $*" >&2
  local start=$SECONDS
  if "$@" >"$out/$name.log" 2>"$out/$name.err"; then
    grep '^RESULT ' "$out/$name.log" | sed "s/\$/ load=$load step_s=$((SECONDS - start))/" >>"$results" || true
  else
    echo "FAILED $name (see $out/$name.err)" | tee -a "$results" >&2
  fi
}

# tb_block_size_bench prints prose: turn its two summary lines into a RESULT line.
size_step() {
  local log
  log=$("$build/bench/tb_block_size_bench" "$size_spans" 19)
  echo "$log"
  local total zstd
  total=$(sed -n 's/^block: .* = \([0-9.]*\) B\/span.*/\1/p' <<<"$log")
  zstd=$(sed -n 's/^OTLP protobuf: .* zstd -19 \([0-9.]*\) B\/span.*/\1/p' <<<"$log")
  [[ -n $total && -n $zstd ]] || return 1
  echo "RESULT size spans=$size_spans bytes_per_span=$total zstd19_bytes_per_span=$zstd"
}

tracebyid_step() {
  "$build/bench/tb_trace_by_id_bench" --storage file
  [[ ${NO_S3:-0} == 1 ]] && return
  if [[ -z ${S3_ENDPOINT:-} ]] && command -v radosgw >/dev/null; then
    export RGW_DIR="$out/rgw" OBJECTSTORE=bluestore
    # shellcheck disable=SC1091
    bash scripts/s3-up.sh >/dev/null && source "$RGW_DIR/env"
    started_s3=1
  fi
  if [[ -n ${S3_ENDPOINT:-} ]]; then
    "$build/bench/tb_trace_by_id_bench" --storage s3
  else
    echo "RESULT trace_by_id storage=s3 skipped=no_S3_ENDPOINT_and_no_radosgw"
  fi
}
started_s3=0
stop_s3() { [[ $started_s3 == 1 ]] && RGW_DIR="$out/rgw" bash scripts/s3-down.sh >/dev/null 2>&1 || true; }
trap stop_s3 EXIT

micro_step() {
  "$build/bench/tb_micro_bench" --benchmark_min_time=0.5 --benchmark_out="$out/micro.json" \
    --benchmark_out_format=json
  echo "RESULT micro json=$out/micro.json"
}

step ingest bash bench/run_ingest.sh "$build" "$ingest_seconds" 16 512
step size size_step
if [[ -x $build/bench/tb_trace_by_id_bench ]]; then
  step tracebyid tracebyid_step
else
  echo "SKIPPED tracebyid (tb_trace_by_id_bench not built)" >>"$results"
fi
step restart "$build/bench/tb_restart_bench" --server "$build/tracebucket"
step micro micro_step
# Last: the longest step (it may have to build its data set).
search_args=(--spans "$search_spans")
[[ ${SEARCH_REBUILD:-0} == 1 ]] && search_args+=(--rebuild)
step search "$build/bench/tb_search_bench" "${search_args[@]}"

echo "SUITE load_end=$(cut -d' ' -f1 /proc/loadavg)" >>"$results"
python3 bench/suite_table.py "$results" >"$out/table.md"
cat "$out/table.md"
if [[ ${UPDATE_DOC:-1} == 1 ]]; then
  python3 bench/suite_table.py --update BENCHMARKS.md "$results"
  echo "BENCHMARKS.md updated (results: $results)" >&2
fi
