#!/usr/bin/env bash
# Checks deploy/prometheus/tracebucket-alerts.yaml with Prometheus's own tool: `promtool check rules`
# (syntax, PromQL, templates) and `promtool test rules` with alerts.test.yaml here (each alert fires
# on series that should fire it, at the expected time and with the expected text, and not on
# healthy ones). Exit 77 (skipped) without promtool (Debian: apt-get install prometheus).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)"; exit 77; }
promtool check rules "$here/../../deploy/prometheus/tracebucket-alerts.yaml"
cd "$here" && promtool test rules alerts.test.yaml
