#!/usr/bin/env bash
# Installs, starts and stops the pinned local Kafka-protocol broker (Tansu) used by tests.
#
# Usage:
#   scripts/tansu.sh install                 build the pinned broker into the cache (once)
#   scripts/tansu.sh start [--sqlite FILE]   start it on a free 127.0.0.1 port, print the address
#   scripts/tansu.sh stop                    stop the broker started by `start`
#   scripts/tansu.sh env                     print the running broker's address
#   scripts/tansu.sh topic NAME [PARTITIONS] create a topic on the running broker
#   scripts/tansu.sh path                    print the broker binary's path
#
# `start` and `env` print `export MSPWATCH_BROKERS=127.0.0.1:PORT`, so `eval "$(scripts/tansu.sh start)"`
# exports it. Storage is in memory unless `--sqlite FILE` is given (relative to the working
# directory); a SQLite-backed broker keeps its topics and offsets across a restart.
#
# Environment:
#   MSPWATCH_CACHE_DIR   cache root (default ~/.cache/mspwatch)
#   MSPWATCH_TANSU       broker binary to use instead of the cached build
#   MSPWATCH_STATE_DIR   where the pid, address and log of the running broker live
#                        (default $MSPWATCH_CACHE_DIR/tansu-state)
set -euo pipefail

readonly TANSU_VERSION="0.6.0"
readonly TANSU_FEATURES="dynostore,libsql"
readonly CACHE_DIR="${MSPWATCH_CACHE_DIR:-${HOME:-/tmp}/.cache/mspwatch}"
readonly INSTALL_ROOT="${CACHE_DIR}/tansu-${TANSU_VERSION}"
readonly TANSU_BIN="${MSPWATCH_TANSU:-${INSTALL_ROOT}/bin/tansu}"
readonly STATE_DIR="${MSPWATCH_STATE_DIR:-${CACHE_DIR}/tansu-state}"
readonly PID_FILE="${STATE_DIR}/broker.pid"
readonly ENV_FILE="${STATE_DIR}/broker.env"
readonly LOG_FILE="${STATE_DIR}/broker.log"
readonly START_TIMEOUT_SECS=30

log() {
    echo "tansu.sh: $*" >&2
}

die() {
    log "$*"
    exit 1
}

binary_works() {
    [[ -x "${TANSU_BIN}" ]] && "${TANSU_BIN}" --version >/dev/null 2>&1
}

# Builds the pinned broker unless it is already in the cache. Concurrent callers wait on a lock
# instead of starting a second build into the same root.
cmd_install() {
    if binary_works; then
        log "broker already installed: ${TANSU_BIN}"
        return 0
    fi
    if [[ -n "${MSPWATCH_TANSU:-}" ]]; then
        die "MSPWATCH_TANSU=${MSPWATCH_TANSU} is not an executable broker"
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo is needed to build the broker; install Rust"
    mkdir -p "${CACHE_DIR}"
    local lock="${CACHE_DIR}/tansu-${TANSU_VERSION}.lock"
    if command -v flock >/dev/null 2>&1; then
        exec 9>"${lock}"
        log "waiting for the install lock ${lock}"
        flock 9
        if binary_works; then
            log "broker installed by another process: ${TANSU_BIN}"
            return 0
        fi
    fi
    log "building tansu ${TANSU_VERSION} into ${INSTALL_ROOT} (the first build takes ~15 minutes)"
    cargo install tansu --version "${TANSU_VERSION}" --locked \
        --features "${TANSU_FEATURES}" --root "${INSTALL_ROOT}"
    binary_works || die "the build finished but ${TANSU_BIN} does not run"
    log "installed ${TANSU_BIN}"
}

port_answers() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1
}

# A port nothing answers on. The broker may still lose a race for it; `start` then retries.
pick_port() {
    local attempt port
    for attempt in $(seq 1 50); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! port_answers "${port}"; then
            echo "${port}"
            return 0
        fi
    done
    die "no free port found on 127.0.0.1"
}

running_pid() {
    [[ -f "${PID_FILE}" ]] || return 1
    local pid
    pid="$(cat "${PID_FILE}")"
    [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null || return 1
    echo "${pid}"
}

current_address() {
    [[ -f "${ENV_FILE}" ]] || return 1
    sed -n 's/^MSPWATCH_BROKERS=//p' "${ENV_FILE}"
}

# Starts one broker process on `port`, in directory `workdir`; succeeds once the port answers.
launch() {
    local port="$1" storage="$2" workdir="$3" pid waited=0
    (
        cd "${workdir}"
        exec nohup "${TANSU_BIN}" broker \
            --listener-url "tcp://127.0.0.1:${port}" \
            --advertised-listener-url "tcp://127.0.0.1:${port}" \
            --storage-engine "${storage}" >>"${LOG_FILE}" 2>&1 </dev/null
    ) &
    pid=$!
    echo "${pid}" >"${PID_FILE}"
    while ((waited < START_TIMEOUT_SECS * 10)); do
        if ! kill -0 "${pid}" 2>/dev/null; then
            rm -f "${PID_FILE}"
            return 1
        fi
        if port_answers "${port}"; then
            return 0
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    kill "${pid}" 2>/dev/null || true
    rm -f "${PID_FILE}"
    return 1
}

cmd_start() {
    local storage="memory://tansu/" workdir="${PWD}"
    while (($# > 0)); do
        case "$1" in
            --sqlite)
                [[ $# -ge 2 ]] || die "--sqlite needs a file"
                # The broker resolves the file against its working directory, even an absolute
                # path, so it runs in the file's directory and gets the bare name.
                workdir="$(cd "$(dirname "$2")" && pwd)" || die "no directory for $2"
                storage="sqlite://$(basename "$2")"
                shift 2
                ;;
            *) die "unknown option for start: $1" ;;
        esac
    done
    if running_pid >/dev/null; then
        local address
        address="$(current_address)"
        if [[ -n "${address}" ]] && port_answers "${address##*:}"; then
            log "broker already running at ${address}"
            echo "export MSPWATCH_BROKERS=${address}"
            return 0
        fi
        cmd_stop
    fi
    binary_works || cmd_install
    mkdir -p "${STATE_DIR}"
    local attempt port
    for attempt in 1 2 3 4 5; do
        port="$(pick_port)"
        printf "\n--- %s start on 127.0.0.1:%s %s\n" "$(date -u +%FT%TZ)" "${port}" "${storage}" \
            >>"${LOG_FILE}"
        if launch "${port}" "${storage}" "${workdir}"; then
            echo "MSPWATCH_BROKERS=127.0.0.1:${port}" >"${ENV_FILE}"
            log "broker running at 127.0.0.1:${port} (log: ${LOG_FILE})"
            echo "export MSPWATCH_BROKERS=127.0.0.1:${port}"
            return 0
        fi
        log "broker did not come up on port ${port} (attempt ${attempt}); see ${LOG_FILE}"
    done
    tail -n 20 "${LOG_FILE}" >&2 || true
    die "could not start the broker"
}

cmd_stop() {
    local pid waited=0
    if ! pid="$(running_pid)"; then
        rm -f "${PID_FILE}" "${ENV_FILE}"
        log "no broker running"
        return 0
    fi
    kill "${pid}" 2>/dev/null || true
    while kill -0 "${pid}" 2>/dev/null && ((waited < 100)); do
        sleep 0.1
        waited=$((waited + 1))
    done
    if kill -0 "${pid}" 2>/dev/null; then
        log "broker ${pid} ignored SIGTERM; killing it"
        kill -9 "${pid}" 2>/dev/null || true
    fi
    rm -f "${PID_FILE}" "${ENV_FILE}"
    log "broker ${pid} stopped"
}

cmd_env() {
    local address
    if running_pid >/dev/null && address="$(current_address)" && [[ -n "${address}" ]]; then
        echo "export MSPWATCH_BROKERS=${address}"
        return 0
    fi
    die "no broker running; run: scripts/tansu.sh start"
}

cmd_topic() {
    [[ $# -ge 1 ]] || die "usage: tansu.sh topic NAME [PARTITIONS]"
    local address
    running_pid >/dev/null && address="$(current_address)" || die "no broker running"
    "${TANSU_BIN}" topic create "$1" --partitions "${2:-3}" --broker "tcp://${address}"
}

main() {
    local command="${1:-}"
    [[ $# -gt 0 ]] && shift
    case "${command}" in
        install) cmd_install "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        env) cmd_env "$@" ;;
        topic) cmd_topic "$@" ;;
        path) echo "${TANSU_BIN}" ;;
        *)
            sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//' >&2
            exit 2
            ;;
    esac
}

main "$@"
