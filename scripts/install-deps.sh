#!/usr/bin/env bash
# Installs what tracebucket needs to build, from Debian bookworm's packages; with --tests also what
# its tests need (a throw-away S3 server, Node.js for the interop clients, whose npm packages
# scripts/test.sh installs, Clang and libFuzzer for the fuzz stage). Safe to run repeatedly.
#   scripts/install-deps.sh [--tests]
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libabsl-dev
  libzstd-dev zlib1g-dev libxxhash-dev libroaring-dev
  libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libboost-dev libcpp-httplib-dev libssl-dev libcurl4-openssl-dev libpugixml-dev
  prometheus-cpp-dev
  libgoogle-perftools-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl procps
)
if [ "${1:-}" = "--tests" ]; then
  # Ceph RADOS Gateway: the throw-away S3 server of the S3 tests (scripts/s3-up.sh).
  packages+=(ceph-mon ceph-osd radosgw uuid-runtime)
  # Node.js runs the interop tests' clients; the machine may already carry a newer Node than Debian's.
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
  # deploy/ checks: systemd-analyze verifies the unit, promtool (in Debian's prometheus) the alerting rules.
  packages+=(systemd prometheus)
  # The fuzz stage (scripts/fuzz.sh): Clang 14 with libFuzzer and the sanitizer runtimes.
  packages+=(clang-14 libfuzzer-14-dev libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
