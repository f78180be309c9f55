#!/usr/bin/env bash
# Fetches Jaeger as a Go module and builds the programs the Jaeger stage needs, in a scratch folder
# outside the repository (nothing of Jaeger's is ever committed here). Module, build and binaries are
# cached across runs: a second call with the same version builds nothing.
#
#   tests/jaeger/fetch.sh [PROGRAM ...]     PROGRAM: jaeger | all-in-one | tracegen   (default: all)
#
# Environment:
#   JAEGER_VERSION   module version (default v1.75.0, which is also Jaeger v2.12)
#   TB_JAEGER_CACHE  scratch root (default ${XDG_CACHE_HOME:-$HOME/.cache}/tracebucket/jaeger)
# Prints the module copy's folder on stdout; the binaries are at cmd/jaeger/jaeger,
# cmd/all-in-one/all-in-one and cmd/tracegen/tracegen under it, where Jaeger's own e2e suite looks.
set -euo pipefail

version=${JAEGER_VERSION:-v1.75.0}
root=${TB_JAEGER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tracebucket/jaeger}
programs=("$@")
[ ${#programs[@]} -gt 0 ] || programs=(jaeger all-in-one tracegen)

command -v go >/dev/null || { echo "fetch.sh: no Go on this machine" >&2; exit 3; }

copy="$root/$version"
mkdir -p "$root"
# One fetch or build at a time per scratch root: parallel runs wait here instead of racing on the copy.
exec 9>"$root/.lock"
flock 9
if [ ! -f "$copy/.complete" ]; then
  # On failure go prints its reason in the JSON's "Error" field: pass it on, so a skipped suite can say why.
  if ! download=$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json \
    "github.com/jaegertracing/jaeger@$version" 2>&1); then
    echo "fetch.sh: go mod download github.com/jaegertracing/jaeger@$version failed:" >&2
    printf '%s\n' "$download" >&2
    exit 1
  fi
  module_dir=$(printf '%s\n' "$download" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')
  [ -d "$module_dir" ] || { echo "fetch.sh: go mod download gave no folder" >&2; exit 1; }
  rm -rf "$copy"
  mkdir -p "$copy"
  cp -R "$module_dir/." "$copy/"
  chmod -R u+w "$copy"
  touch "$copy/.complete"
fi

for program in "${programs[@]}"; do
  case "$program" in
    jaeger | all-in-one | tracegen) ;;
    *) echo "fetch.sh: unknown program '$program'" >&2; exit 2 ;;
  esac
  binary="$copy/cmd/$program/$program"
  if [ ! -x "$binary" ]; then
    echo "fetch.sh: building Jaeger $version cmd/$program (cached after the first time)" >&2
    (cd "$copy" && go build -o "cmd/$program/$program" "./cmd/$program") >&2
  fi
done
echo "$copy"
