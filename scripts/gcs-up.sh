#!/usr/bin/env bash
# Starts a throw-away Google Cloud Storage emulator for the tests: fake-gcs-server
# (github.com/fsouza/fake-gcs-server, a Go module), which serves GCS's JSON API — uploads (media,
# multipart, resumable) with ifGenerationMatch preconditions, ranged downloads, paged listing,
# deletes — over plain HTTP on 127.0.0.1, keeping objects in memory. See docs/format/gcs-store.md.
#
# The server is built from its module the first time (needs Go >= 1.24 and the Go module proxy;
# about 2 minutes on 2 cores) into a cache folder outside the repository, and reused afterwards:
# nothing of it is committed here.
#
# Environment (all optional):
#   GCS_DIR              state folder, wiped first (default: ${TMPDIR:-/tmp}/tracebucket-gcs): log, pid,
#                        and `env`.
#   GCS_PORT             port; unset or 0: a free port is picked.
#   FAKE_GCS_VERSION     module version (default v1.56.1).
#   TB_FAKE_GCS_CACHE    build cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/tracebucket/fake-gcs-server).
#
# On success it writes "$GCS_DIR/env" — `export STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT` — for the
# caller to `source`, prints the same line on stdout (and nothing else: progress goes to stderr), and
# returns 0. Exit 3: no Go >= 1.24 here (nothing was started). Other failures: non-zero; run
# scripts/gcs-down.sh (same GCS_DIR) to stop what did start.
set -euo pipefail
D=${GCS_DIR:-${TMPDIR:-/tmp}/tracebucket-gcs}
version=${FAKE_GCS_VERSION:-v1.56.1}
cache=${TB_FAKE_GCS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracebucket/fake-gcs-server}
# listening, free_port; running, claim_state, await_answer
source "$(dirname "$0")/lib/ports.sh"
source "$(dirname "$0")/lib/emulator.sh"

exec 3>&1 1>&2 # stdout is only for the env line at the end
go_version=$(go env GOVERSION 2>/dev/null || true)
if [[ -z $go_version || $(printf '%s\n' go1.24 "$go_version" | sort -V | head -n1) != go1.24 ]]; then
  echo "gcs-up: fake-gcs-server needs Go >= 1.24 to build, and this machine has ${go_version:-no Go}" >&2
  exit 3
fi

# Build once per version; parallel callers wait on the lock instead of racing on the folder.
binary="$cache/$version/fake-gcs-server"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ ! -x $binary ]]; then
  echo "gcs-up: building fake-gcs-server $version (cached after the first time)" >&2
  T0=$(date +%s)
  mkdir -p "$cache/$version"
  # Outside any module, `go install pkg@version` builds exactly that version with its own go.sum.
  (cd "${TMPDIR:-/tmp}" && GOBIN="$cache/$version.tmp" go install "github.com/fsouza/fake-gcs-server@$version")
  mv "$cache/$version.tmp/fake-gcs-server" "$binary"
  rmdir "$cache/$version.tmp"
  echo "gcs-up: built in $(($(date +%s) - T0)) s" >&2
fi
exec 9>&-

claim_state gcs-up "$D" "${GCS_PORT:-0}" "GCS_DIR=$D scripts/gcs-down.sh"
# Plain HTTP on loopback only. Objects in memory: the filesystem backend reads every object's file
# for each LIST, which made the conformance suite's 2,500-key pagination test take 46 s instead of 9.
"$binary" -scheme http -host 127.0.0.1 -port "$PORT" -external-url "http://127.0.0.1:$PORT" \
  -backend memory -log-level warn >"$D/log" 2>&1 3>&- &
echo $! >"$D/pid"
healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$PORT/_internal/healthcheck" 2>/dev/null; }
await_answer gcs-up "$D" healthy

echo "export STORAGE_EMULATOR_HOST=http://127.0.0.1:$PORT" >"$D/env"
echo "gcs-up: fake-gcs-server $version on 127.0.0.1:$PORT, pid $(cat "$D/pid"), state $D" >&2
cat "$D/env" >&3
