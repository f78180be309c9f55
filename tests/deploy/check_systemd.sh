#!/usr/bin/env bash
# Verifies deploy/systemd/tracebucket.service with `systemd-analyze verify` (unknown or misspelled
# directives, bad values, a missing binary): the unit is copied with ExecStart pointing at the
# built binary (TB_BINARY), since verify checks that the command exists. A copy with a misspelled
# directive must fail, so the check is known to bite; `systemd-analyze security` scores the hardening. Exit 77 (skipped) without systemd-analyze.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
unit=$here/../../deploy/systemd/tracebucket.service
binary=${TB_BINARY:?set TB_BINARY to the tracebucket binary}
command -v systemd-analyze >/dev/null || { echo "systemd-analyze not found (apt-get install systemd)"; exit 77; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

grep -q '^ExecStart=/usr/local/bin/tracebucket serve ' "$unit" || { echo "unexpected ExecStart in $unit"; exit 1; }
sed "s|^ExecStart=/usr/local/bin/tracebucket |ExecStart=$binary |" "$unit" >"$scratch/tracebucket.service"
# verify prints problems on stderr and may still exit 0 for some of them: any output fails the check.
out=$(systemd-analyze verify "$scratch/tracebucket.service" 2>&1) || { echo "$out"; exit 1; }
if [[ -n $out ]]; then echo "systemd-analyze verify reported:"; echo "$out"; exit 1; fi
echo "ok: systemd-analyze verify accepts the unit"

# systemd's own exposure score (0 = locked down, 10 = unprotected): the unit must stay at 2.5 or below.
systemd-analyze security --offline=yes --threshold=25 "$scratch/tracebucket.service" >"$scratch/security.txt" 2>&1 ||
  { tail -n 3 "$scratch/security.txt"; echo "the unit's exposure is above 2.5"; exit 1; }
grep 'Overall exposure level' "$scratch/security.txt" | sed 's/^→ */ok: /'

sed 's/^ProtectSystem=strict/ProtectSystm=strict/' "$scratch/tracebucket.service" >"$scratch/broken.service"
out=$(systemd-analyze verify "$scratch/broken.service" 2>&1) || true
grep -q "ProtectSystm" <<<"$out" || { echo "a misspelled directive was not reported: $out"; exit 1; }
echo "ok: a misspelled directive is reported"
