#!/usr/bin/env bash
# Stops what scripts/gcs-up.sh started in GCS_DIR (same default), by its PID, and deletes the state
# folder. Safe to run after a failed or partial start, and twice.
# Env: GCS_DIR (as for gcs-up.sh); GCS_KEEP=1 keeps the folder (its log is $GCS_DIR/log).
D=${GCS_DIR:-${TMPDIR:-/tmp}/tracebucket-gcs}
# stop_pidfile
source "$(dirname "$0")/lib/emulator.sh"
stop_pidfile "$D/pid"
[[ ${GCS_KEEP:-0} == 1 ]] || rm -rf "$D"
exit 0
