#!/usr/bin/env bash
# Jaeger's own end-to-end storage suite, unmodified, against the real tracebucket binary.
#
#   tests/jaeger/e2e.sh MODE        MODE: head | blocks-file | blocks-s3
#
# The suite is TestGRPCStorage in cmd/jaeger/internal/integration of the Go module
# github.com/jaegertracing/jaeger (v1.75.0 unless JAEGER_VERSION says otherwise), run from the module copy that
# tests/jaeger/fetch.sh prepares. With CUSTOM_STORAGE=true it starts the `jaeger` binary with
# cmd/jaeger/config-remote-storage.yaml: spans go test → Jaeger's OTLP receiver → jaeger_storage_exporter →
# tracebucket's OTLP service; reads go test → Jaeger's api_v3 query service → tracebucket's Remote Storage API v2.
# Between tests it calls tracebucket's POST /purge. Jaeger takes its fixed ports (4317, 4318, 16685, 16686, 13133,
# 8888); tracebucket gets two free ports.
#
# Modes (tracebucket's settings; the suite is the same):
#   head         server defaults: everything is read from the in-memory head.
#   blocks-file  --flush-every-write: each write is flushed into a block in the local folder before it is
#                acknowledged, so reads are served by blocks.
#   blocks-s3    the same with --storage s3://<fresh bucket>/tb on the S3 server named by S3_ENDPOINT, S3_REGION,
#                S3_ACCESS_KEY, S3_SECRET_KEY (scripts/s3-up.sh writes them; scripts/test.sh exports them). The
#                bucket is created here and removed afterwards. Without S3_ENDPOINT the mode is skipped (exit 77)
#                with the reason, unless CI=true, where that is a failure.
#
# Environment: TB_BINARY (default <repo>/build/tracebucket), JAEGER_VERSION, TB_JAEGER_CACHE (see fetch.sh),
# E2E_TIMEOUT (go test -timeout, default 15m), E2E_LOG_DIR (keep tracebucket.log and go-test.log there). Go's module and build caches are Go's defaults, so a second run
# downloads and compiles nothing. Exit: 0 pass, 1 fail, 2 usage, 77 skipped.
set -euo pipefail

mode=${1:-}
case "$mode" in
  head | blocks-file | blocks-s3) ;;
  *) echo "usage: $0 head|blocks-file|blocks-s3" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tb=${TB_BINARY:-$repo/build/tracebucket}
say() { echo "e2e.sh $mode: $*" >&2; }
[ -x "$tb" ] || { say "tracebucket binary not found at $tb (set TB_BINARY or build the 'tracebucket' target)"; exit 1; }

# Subtests that cannot pass by design, one per line: "<path under TestGRPCStorage> | <reason>", e.g.
# "GetLargeTrace | ..." or "FindTraces/Duration_range | ...". Passed to `go test -skip`, whose one pattern can name
# several subtests only under one parent, so the entries must share theirs. Empty: every subtest runs.
skip_list=(
)

if [ "$mode" = blocks-s3 ] && [ -z "${S3_ENDPOINT:-}" ]; then
  if [ "${CI:-}" = true ]; then
    say "FAIL: CI=true but S3_ENDPOINT is not set (start scripts/s3-up.sh and source its env)"
    exit 1
  fi
  say "skipped: S3_ENDPOINT is not set (start scripts/s3-up.sh and source its env to run this mode)"
  exit 77
fi

source "$repo/scripts/lib/ports.sh" # listening, free_port
# Every port Jaeger's e2e suites use (tracebucket never gets one); the binary this suite starts binds these:
jaeger_ports=(4316 4317 4318 8887 8888 12133 13133 16685 16686 17271)
for port in 4317 4318 8888 13133 16685 16686; do
  if listening "$port"; then
    say "port $port is in use, but the Jaeger binary the suite starts needs it; stop what listens there"
    exit 1
  fi
done

started=$(date +%s)
copy=$(bash "$here/fetch.sh" jaeger)
work=$(mktemp -d "${TMPDIR:-/tmp}/tb-jaeger-e2e.XXXXXX")
tb_log=$work/tracebucket.log
tb_pid=
go_pid=
bucket=
s3_node() { # s3_node create|destroy BUCKET: the interop suite's bucket helper (tests/interop/lib/s3.mjs)
  node --input-type=module -e "
    import { S3Bucket, s3FromEnv } from '$repo/tests/interop/lib/s3.mjs';
    const { env, missing } = s3FromEnv();
    if (missing) throw new Error(missing);
    await new S3Bucket(env, process.argv[2])[process.argv[1]]();
  " "$@"
}
passed=false
finish() {
  local rc=$?
  if [ -n "$go_pid" ]; then kill -TERM -- "-$go_pid" 2>/dev/null || true; fi
  if [ -n "$tb_pid" ] && kill -0 "$tb_pid" 2>/dev/null; then kill -KILL "$tb_pid" 2>/dev/null || true; fi
  if [ "$passed" != true ] && [ -f "$tb_log" ]; then
    say "tracebucket's log (last 60 lines):"
    tail -n 60 "$tb_log" >&2 || true
  fi
  if [ -n "${E2E_LOG_DIR:-}" ]; then
    mkdir -p "$E2E_LOG_DIR" && cp "$work"/*.log "$E2E_LOG_DIR/" 2>/dev/null || true
  fi
  if [ -n "$bucket" ]; then s3_node destroy "$bucket" || { say "could not remove bucket $bucket"; rc=1; }; fi
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT

grpc_port=$(free_port "${jaeger_ports[@]}") # never one of Jaeger's
http_port=$(free_port "${jaeger_ports[@]}" "$grpc_port")
args=(serve --data-dir "$work/data" --grpc-listen "127.0.0.1:$grpc_port" --http-listen "127.0.0.1:$http_port"
  --enable-purge)
case "$mode" in
  blocks-file) args+=(--flush-every-write) ;;
  blocks-s3)
    name=tb-jaeger-e2e-$$-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
    s3_node create "$name"
    bucket=$name # finish removes it
    args+=(--flush-every-write --storage "s3://$bucket/tb" --s3-endpoint "$S3_ENDPOINT"
      --s3-region "${S3_REGION:-us-east-1}" --s3-path-style)
    export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
    ;;
esac
say "tracebucket ${args[*]}"
"$tb" "${args[@]}" >"$tb_log" 2>&1 &
tb_pid=$!
for _ in $(seq 1 200); do
  curl -fsS -o /dev/null "http://127.0.0.1:$http_port/ready" 2>/dev/null && break
  kill -0 "$tb_pid" 2>/dev/null || { say "tracebucket exited before it was ready"; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$http_port/ready" || { say "tracebucket not ready after 20 s"; exit 1; }

skip_args=()
if [ ${#skip_list[@]} -gt 0 ]; then
  parent=- names=
  for line in "${skip_list[@]}"; do
    path=$(echo "${line%%|*}" | xargs)
    reason=$(echo "${line#*|}" | xargs)
    [ -n "$reason" ] && [ "$reason" != "$path" ] || { say "skip list entry '$line' has no reason"; exit 1; }
    this_parent=$([[ $path == */* ]] && echo "${path%/*}" || echo "")
    [ "$parent" = - ] || [ "$parent" = "$this_parent" ] || { say "skip list entries must share a parent"; exit 1; }
    parent=$this_parent
    names+="${names:+|}${path##*/}"
    say "skipping $path: $reason"
  done
  pattern="^TestGRPCStorage\$"
  if [ -n "$parent" ]; then
    IFS=/ read -ra levels <<<"$parent"
    for level in "${levels[@]}"; do pattern+="/^$level\$"; done
  fi
  skip_args=(-skip "$pattern/^($names)\$")
fi

go_started=$(date +%s)
# In a process group of its own (setsid), so that a stopped run (ctest timeout, Ctrl-C) can end go test, the test
# binary and the jaeger binary it started together (see finish).
setsid env -C "$copy" STORAGE=grpc CUSTOM_STORAGE=true \
  REMOTE_STORAGE_ENDPOINT="127.0.0.1:$grpc_port" REMOTE_STORAGE_WRITER_ENDPOINT="127.0.0.1:$grpc_port" \
  PURGER_ENDPOINT="http://127.0.0.1:$http_port/purge" \
  go test ./cmd/jaeger/internal/integration -run '^TestGRPCStorage$' "${skip_args[@]}" -v -count=1 \
  -timeout "${E2E_TIMEOUT:-15m}" >"$work/go-test.log" 2>&1 &
go_pid=$!
set +e
wait "$go_pid"
go_rc=$?
set -e
go_pid=
go_seconds=$(($(date +%s) - go_started))

# The subtests' verdicts, then the whole output on failure.
grep -E '^\s*--- (PASS|FAIL|SKIP)' "$work/go-test.log" >&2 || true
if [ "$go_rc" -ne 0 ] || ! grep -q '^--- PASS: TestGRPCStorage' "$work/go-test.log"; then
  cat "$work/go-test.log" >&2
  say "FAIL: go test exited $go_rc"
  exit 1
fi
fails=$(grep -cE '^\s*--- FAIL' "$work/go-test.log" || true)
[ "$fails" -eq 0 ] || { say "FAIL: $fails subtests failed"; exit 1; }
# A subtest that skips itself (the suite's own skip rules) would pass unseen: only the list above may skip.
skips=$(grep -cE '^\s*--- SKIP' "$work/go-test.log" || true)
[ "$skips" -eq 0 ] || { say "FAIL: $skips subtests skipped themselves"; exit 1; }

# The mode did what it says: blocks were written (one per write), and on S3 none went to the local folder.
blocks=$(grep -c 'flushed block' "$tb_log" || true)
case "$mode" in
  head) [ "$blocks" -eq 0 ] || { say "FAIL: head mode wrote $blocks blocks"; exit 1; } ;;
  blocks-*) [ "$blocks" -gt 0 ] || { say "FAIL: no block was flushed"; exit 1; } ;;
esac
if [ "$mode" = blocks-s3 ] && [ -n "$(ls -A "$work/data/blocks" 2>/dev/null)" ]; then
  say "FAIL: blocks appeared in the local folder $work/data/blocks"
  exit 1
fi

kill -TERM "$tb_pid"
set +e
wait "$tb_pid"
tb_rc=$?
set -e
tb_pid=
[ "$tb_rc" -eq 0 ] || { say "FAIL: tracebucket exited $tb_rc after SIGTERM"; exit 1; }
passed=true
say "PASS: $(grep -cE '^\s*--- PASS' "$work/go-test.log") tests passed, ${#skip_list[@]} skipped by the list," \
  "$blocks blocks flushed; go test ${go_seconds} s, total $(($(date +%s) - started)) s"
