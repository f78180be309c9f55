#!/usr/bin/env bash
# Stops what scripts/s3-up.sh started in RGW_DIR (same default) — by PID only, in the order rgw,
# osd, mon (the OSD waits for the monitor to acknowledge its shutdown) — and deletes the state
# folder. Safe to run after a failed or partial start, and twice.
# Env: RGW_DIR (as for s3-up.sh); RGW_KEEP=1 keeps the folder (logs under $RGW_DIR/log/).
D=${RGW_DIR:-${TMPDIR:-/tmp}/tracebucket-rgw}
# `kill -0` succeeds on a zombie, and orphans may be reaped late here: a zombie counts as gone.
running() { local s; s=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $s != Z* ]]; }
for n in rgw osd mon; do
  [[ -f $D/$n.pid ]] || continue
  pid=$(cat "$D/$n.pid")
  running "$pid" || continue
  kill "$pid" 2>/dev/null || continue
  for _ in $(seq 1 100); do
    running "$pid" || break
    sleep 0.1
  done
  running "$pid" && kill -9 "$pid" 2>/dev/null
done
[[ ${RGW_KEEP:-0} == 1 ]] || rm -rf "$D"
exit 0
