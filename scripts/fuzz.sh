#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, docs/fuzzing.md) with Clang 14 in their own build folder
# and runs each for a bounded time, starting from its committed seed corpus (fuzz/corpus/<target>).
# Each target first replays its past findings (fuzz/regressions/<target>/*, each run once).
# New inputs go to a scratch folder, not to the committed corpus. Exits non-zero on the first
# crash, leak, hang or failed check, leaving the input that caused it in BUILD_DIR/artifacts/.
#   scripts/fuzz.sh [-t SECONDS_PER_TARGET] [-b BUILD_DIR] [TARGET...]   (defaults: 25, build-fuzz, all)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=25
build=build-fuzz
while getopts "t:b:" opt; do
  case $opt in
    t) seconds=$OPTARG ;;
    b) build=$OPTARG ;;
    *) exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(otlp_proto otlp_json jaeger_proto http_params wal block)

# UBSan as well as ASan: undefined behaviour is a finding too, and scripts/test.sh runs the unit tests
# under both sanitizers from this same tree, whose libraries are then compiled once for both.
# Optimized, but with assert() on (no NDEBUG): a failed assertion is a finding, and the unit tests'
# asserts run nowhere else.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_FUZZ=ON -DTB_SANITIZE=ON \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 >/dev/null
ninja -C "$build" fuzz

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tb-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$build/artifacts"
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
    echo "== fuzz_$t: replaying fuzz/regressions/$t"
    "$build/fuzz/fuzz_$t" -timeout=10 -rss_limit_mb=2048 fuzz/regressions/"$t"/* >"$scratch/$t.replay.log" 2>&1 || {
      tail -n 60 "$scratch/$t.replay.log"
      echo "fuzz_$t failed on a past finding in fuzz/regressions/$t"
      exit 1
    }
  fi
  echo "== fuzz_$t for ${seconds}s"
  # -timeout: an input that runs 10 s is a hang; -rss_limit_mb: 2 GiB is a runaway allocation.
  rc=0
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" "$scratch/$t" "fuzz/corpus/$t" >"$scratch/$t.log" 2>&1 || rc=$?
  grep -E '^(INFO: seed corpus|#[0-9]+ +DONE|stat::)' "$scratch/$t.log" || true
  if [ $rc -ne 0 ]; then
    tail -n 60 "$scratch/$t.log"
    echo "fuzz_$t failed (exit $rc); the input is in $build/artifacts/"
    exit 1
  fi
done
