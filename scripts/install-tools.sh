#!/usr/bin/env bash
# Installs the development tools CI and the test command need into a cache, once:
# cargo-deny (supply-chain checks) and the pinned Kafka-protocol broker (via tansu.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly CACHE_DIR="${MSPWATCH_CACHE_DIR:-${HOME:-/tmp}/.cache/mspwatch}"
readonly TOOLS_ROOT="${CACHE_DIR}/tools"
readonly DENY_VERSION="0.20.2"

if [[ -x "${TOOLS_ROOT}/bin/cargo-deny" ]]; then
    echo "install-tools.sh: cargo-deny already installed" >&2
else
    echo "install-tools.sh: building cargo-deny ${DENY_VERSION} into ${TOOLS_ROOT}" >&2
    cargo install cargo-deny --version "${DENY_VERSION}" --locked --root "${TOOLS_ROOT}"
fi

scripts/tansu.sh install
