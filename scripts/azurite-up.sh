#!/usr/bin/env bash
# Starts a throw-away Azure Blob Storage emulator for the tests: Azurite (Microsoft's emulator, the npm
# package `azurite`), which serves the Blob service's REST API — Put Blob, Put Block / Put Block List,
# conditional headers, ranged reads, List Blobs with markers, deletes — over plain HTTP on 127.0.0.1,
# path-style (http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB), and checks every request's SharedKey
# signature. Objects are kept in the state folder. See docs/format/azure-store.md.
#
# The package is installed with npm the first time (about 25 s) into a cache folder outside the
# repository, and reused afterwards: nothing of it is committed here.
#
# Environment (all optional):
#   AZURITE_DIR          state folder, wiped first (default: ${TMPDIR:-/tmp}/tracebucket-azurite): log, pid,
#                        and `env`.
#   AZURITE_PORT         port; unset or 0: a free port is picked.
#   AZURITE_VERSION      npm package version (default 3.37.0).
#   TB_AZURITE_CACHE     install cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/tracebucket/azurite).
#
# On success it writes "$AZURITE_DIR/env" for the caller to `source` and prints the same lines on stdout
# (and nothing else: progress goes to stderr):
#   export AZURITE_BLOB_ENDPOINT=http://127.0.0.1:PORT/devstoreaccount1   (the tests' switch)
#   export AZURE_STORAGE_ACCOUNT=devstoreaccount1
#   export AZURE_STORAGE_KEY=...        (Azurite's well-known development key, published with Azurite)
# and returns 0. Exit 3: no npm here, or npm could not install the package (nothing was started). Other
# failures: non-zero; run scripts/azurite-down.sh (same AZURITE_DIR) to stop what did start.
set -euo pipefail
D=${AZURITE_DIR:-${TMPDIR:-/tmp}/tracebucket-azurite}
version=${AZURITE_VERSION:-3.37.0}
cache=${TB_AZURITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracebucket/azurite}
# listening, free_port; running, claim_state, await_answer
source "$(dirname "$0")/lib/ports.sh"
source "$(dirname "$0")/lib/emulator.sh"

exec 3>&1 1>&2 # stdout is only for the env lines at the end
if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  echo "azurite-up: Azurite comes from npm, and this machine has no npm/node" >&2
  exit 3
fi

# Install once per version; parallel callers wait on the lock instead of racing on the folder.
program="$cache/$version/node_modules/azurite/dist/src/blob/main.js"
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [[ ! -f $program ]]; then
  echo "azurite-up: installing azurite $version with npm (cached after the first time)" >&2
  T0=$(date +%s)
  rm -rf "$cache/$version.tmp"
  mkdir -p "$cache/$version.tmp"
  if ! npm install --prefix "$cache/$version.tmp" --no-audit --no-fund --loglevel=error "azurite@$version" >&2; then
    echo "azurite-up: npm could not install azurite@$version" >&2
    rm -rf "$cache/$version.tmp"
    exit 3
  fi
  rm -rf "$cache/$version"
  mv "$cache/$version.tmp" "$cache/$version"
  echo "azurite-up: installed in $(($(date +%s) - T0)) s" >&2
fi
exec 9>&-

claim_state azurite-up "$D" "${AZURITE_PORT:-0}" "AZURITE_DIR=$D scripts/azurite-down.sh"
mkdir -p "$D/data"
# --skipApiVersionCheck: the store asks for a fixed x-ms-version that a given Azurite may not list;
# --loose: Azurite refuses headers it does not implement otherwise (none of ours, but curl's own).
# Blobs on disk in $D/data: with --inMemoryPersistence Azurite 3.37 stalled for minutes at full CPU
# after a few thousand blobs had come and gone.
(cd "$D" && exec node "$program" --blobHost 127.0.0.1 --blobPort "$PORT" --location "$D/data" \
  --skipApiVersionCheck --loose --disableTelemetry --silent) >"$D/log" 2>&1 3>&- &
echo $! >"$D/pid"
answers() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/devstoreaccount1?comp=list") != 000 ]]; }
await_answer azurite-up "$D" answers

{
  echo "export AZURITE_BLOB_ENDPOINT=http://127.0.0.1:$PORT/devstoreaccount1"
  echo "export AZURE_STORAGE_ACCOUNT=devstoreaccount1"
  echo "export AZURE_STORAGE_KEY=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
} >"$D/env"
echo "azurite-up: Azurite $version on 127.0.0.1:$PORT, pid $(cat "$D/pid"), state $D" >&2
cat "$D/env" >&3
