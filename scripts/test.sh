#!/usr/bin/env bash
# The test command: installs what the tests need (the pinned Kafka-protocol broker, built once
# into a cache), then runs every test of the workspace and the shipped rule pack's fixtures.
# Integration tests start their own brokers on free 127.0.0.1 ports.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/tansu.sh install
MSPWATCH_TANSU="$(scripts/tansu.sh path)"
export MSPWATCH_TANSU
# Broker-backed tests fail rather than skip when the broker cannot be found.
export MSPWATCH_REQUIRE_BROKER=1

cargo test --workspace

echo "== shipped rule pack fixtures"
cargo run --quiet -p mspwatch -- rules test rules
