#!/usr/bin/env bash
# Stops what scripts/gcs-up.sh started in GCS_DIR (same default), by its PID, and deletes the state
# folder. Safe to run after a failed or partial start, and twice.
# Env: GCS_DIR (as for gcs-up.sh); GCS_KEEP=1 keeps the folder (its log is $GCS_DIR/log).
D=${GCS_DIR:-${TMPDIR:-/tmp}/tracebucket-gcs}
running() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }
if [[ -f $D/pid ]]; then
  pid=$(cat "$D/pid")
  if running "$pid" && kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do
      running "$pid" || break
      sleep 0.1
    done
    running "$pid" && kill -9 "$pid" 2>/dev/null
  fi
fi
[[ ${GCS_KEEP:-0} == 1 ]] || rm -rf "$D"
exit 0
