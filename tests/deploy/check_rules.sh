#!/usr/bin/env bash
# Checks deploy/prometheus/tracebucket-alerts.yaml with Prometheus's own tool: `promtool check rules`
# (syntax, PromQL, templates) and `promtool test rules` with alerts.test.yaml here (each alert fires
# on series that should fire it, at the expected time and with the expected text, and not on
# healthy ones). First, without promtool: every metric the rules name is one tracebucket exports
# (listed in docs/metrics.md, which tb_metrics_test holds to the registry), and every `reason` and
# `status` value they match is one docs/metrics.md lists, so a renamed metric cannot leave an alert
# that never fires. Exit 77 (skipped) without promtool (Debian: apt-get install prometheus).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rules="$here/../../deploy/prometheus/tracebucket-alerts.yaml"
doc="$here/../../docs/metrics.md"
names=$(grep -o 'tracebucket_[a-z0-9_]*' "$rules" | sort -u)
[ -n "$names" ] || { echo "no tracebucket_ metric named in $rules"; exit 1; }
for name in $names; do
  grep -q "^| \`$name\` |" "$doc" || { echo "$rules names $name, which docs/metrics.md does not list"; exit 1; }
done
for value in $(grep -o '\(reason\|status\)!\?[=~]*"[^"]*"' "$rules" | sed 's/.*"\(.*\)"/\1/' | tr '|' '\n' | sort -u); do
  grep -q "\`$value\`" "$doc" || { echo "$rules matches the label value $value, which docs/metrics.md does not list"; exit 1; }
done
echo "the rules name $(echo "$names" | wc -l) metrics, all exported"
command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)"; exit 77; }
promtool check rules "$rules"
cd "$here" && promtool test rules alerts.test.yaml
