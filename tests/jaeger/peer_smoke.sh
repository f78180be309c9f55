#!/usr/bin/env bash
# bench/run_peer.sh, small (20,000 spans, 2 searches per kind and window, 10 lookups), as a test:
# Jaeger with Badger, Jaeger with tracebucket as remote storage and tracebucket alone must each
# acknowledge every span of the data set once and answer every search and lookup rightly (a search
# finds its anchor trace, a lookup returns the data set's span count). The figures are not judged:
# the benchmark itself is run by hand (BENCHMARKS.md, "Issue 14: a peer, side by side").
# Needs TB_BINARY (the tracebucket binary of a build whose bench/ tools are built beside it).
set -euo pipefail
build=$(cd "$(dirname "${TB_BINARY:?TB_BINARY names the tracebucket binary}")" && pwd)
peer_dir=$(mktemp -d)
trap 'rm -rf "$peer_dir"' EXIT
SPANS=20000 QUERIES=2 LOOKUPS=10 PEER_DIR=$peer_dir bash "$(dirname "$0")/../../bench/run_peer.sh" "$build"
