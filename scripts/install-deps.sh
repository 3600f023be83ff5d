#!/usr/bin/env bash
# Installs the Debian packages Tessera builds and tests with: RocksDB (linked,
# not compiled), libclang for its bindings, dig for the DNS tests, socat and
# nc for the walkthrough tests, iproute2 for the network-namespace tests.
# Idempotent; quiet when all is there.
set -euo pipefail

packages=(librocksdb-dev libclang-dev clang pkg-config dnsutils socat netcat-openbsd iproute2)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 1; }
