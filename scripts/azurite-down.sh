#!/usr/bin/env bash
# Stops what scripts/azurite-up.sh started in AZURITE_DIR (same default), by its PID, and deletes the
# state folder. Safe to run after a failed or partial start, and twice.
# Env: AZURITE_DIR (as for azurite-up.sh); AZURITE_KEEP=1 keeps the folder (its log is $AZURITE_DIR/log).
D=${AZURITE_DIR:-${TMPDIR:-/tmp}/tracebucket-azurite}
# stop_pidfile
source "$(dirname "$0")/lib/emulator.sh"
stop_pidfile "$D/pid"
[[ ${AZURITE_KEEP:-0} == 1 ]] || rm -rf "$D"
exit 0
