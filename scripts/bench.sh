#!/usr/bin/env bash
# Measures mspwatch beside its references, each pair in the same run, and prints the table of
# BENCHMARKS.md ("Side by side"):
#   1. replay throughput against serde_json parsing the same file, and DuckDB's query;
#   2. `mspwatch run` taking in a preloaded topic against a bare consumer of the same topic;
#   3. alert latency (produce to gRPC receipt) against bare produce-to-consume latency.
#
# Usage: scripts/bench.sh
#
# Environment:
#   BENCH_EVENTS       records generated and replayed (default 1000000)
#   BENCH_LIVE_EVENTS  of those, records loaded into the broker for comparison 2 (default 200000)
#   BENCH_RUNS         timed runs of each side of comparisons 1 and 2, interleaved (default 3)
#   BENCH_ATTACKS      measured attacks per alert-latency row (default 20)
#   BENCH_RATE         background records per second for the loaded latency rows (default 1000)
#   BENCH_KEEP         keep the work directory (data, configurations, logs) when set
#   CARGO_TARGET_DIR   where the release binaries are built (default target)
#
# It builds the release binaries, generates canonical records into a temporary directory, starts
# its own broker on a free 127.0.0.1 port, and removes all of it on exit. It takes about five
# minutes after the build on a 2-core machine. Needs python3 (DuckDB is installed with pip at
# the pinned version when missing).
set -euo pipefail

readonly REPO="$(cd "$(dirname "$0")/.." && pwd)"
readonly EVENTS="${BENCH_EVENTS:-1000000}"
LIVE_EVENTS="${BENCH_LIVE_EVENTS:-200000}"
((LIVE_EVENTS <= EVENTS)) || LIVE_EVENTS="${EVENTS}"
readonly LIVE_EVENTS
readonly RUNS="${BENCH_RUNS:-3}"
readonly ATTACKS="${BENCH_ATTACKS:-20}"
readonly RATE="${BENCH_RATE:-1000}"
readonly TARGET="${CARGO_TARGET_DIR:-${REPO}/target}"
readonly BIN="${TARGET}/release"
readonly PARTITIONS=3
readonly MSP="msp-bench"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mspwatch-bench.XXXXXX")"
readonly WORK
export MSPWATCH_STATE_DIR="${WORK}/broker"
DETECTOR_PID=""

log() {
    echo "bench: $*" >&2
}

cleanup() {
    stop_detector
    "${REPO}/scripts/tansu.sh" stop >/dev/null 2>&1 || true
    if [[ -n "${BENCH_KEEP:-}" ]]; then
        log "kept ${WORK}"
    else
        rm -rf "${WORK}"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ns() {
    date +%s%N
}

# The median of the numbers on standard input, one per line.
median() {
    sort -g | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) print "nan"
            else if (NR % 2) print v[(NR + 1) / 2]
            else print (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# The number before `unit` in a line of text: `number_before "123 msgs/s" "msgs/s"` prints 123.
number_before() {
    grep -oE "[0-9.]+ $2" <<<"$1" | head -n 1 | cut -d' ' -f1
}

# Runs a command, appends "WALL CPU" (seconds; CPU is user plus system) to file $1.
time_into() {
    local file="$1" TIMEFORMAT='%R %U %S'
    shift
    { time "$@" >/dev/null 2>"${WORK}/command.err"; } 2>"${WORK}/time.out" || {
        cat "${WORK}/command.err" >&2
        log "failed: $*"
        exit 1
    }
    awk '{ printf "%s %.3f\n", $1, $2 + $3 }' "${WORK}/time.out" >>"${file}"
}

# The DuckDB script's "WALL CPU" from its line $1.
duck_times() {
    echo "$(number_before "$1" "s wall") $(number_before "$1" "s cpu")"
}

# Records per second for $1 seconds.
rate_of() {
    awk -v events="${EVENTS}" -v seconds="$1" 'BEGIN { printf "%.0f\n", events / seconds }'
}

build() {
    log "building release binaries into ${TARGET}"
    (cd "${REPO}" &&
        cargo build --release --quiet -p mspwatch -p mspwatch-loadtest -p mspwatch-baseline)
}

generate() {
    log "generating ${EVENTS} canonical records"
    "${BIN}/mspwatch-loadtest" generate --count "${EVENTS}" --omit-msp-share 0 \
        --out "${WORK}/data" 2>&1 | tail -n 1 >&2
    DATA="${WORK}/data/events.jsonl"
    [[ -f "${DATA}" ]] || { log "no ${DATA}"; exit 1; }
    ls -l "${DATA}" >&2
}

# 1. Replay against serde_json and DuckDB, interleaved run by run.
compare_replay() {
    log "replay: ${RUNS} interleaved runs of each side"
    local run line
    : >"${WORK}/t.replay"
    : >"${WORK}/t.stdin"
    : >"${WORK}/t.ignored"
    : >"${WORK}/t.value"
    : >"${WORK}/t.duck"
    : >"${WORK}/t.duck1"
    python3 "${REPO}/scripts/bench_duckdb.py" --records "${EVENTS}" "${DATA}" >&2 # install, warm
    cat "${DATA}" >/dev/null                                                      # page cache
    for run in $(seq 1 "${RUNS}"); do
        time_into "${WORK}/t.replay" "${BIN}/mspwatch" replay --quiet --rules "${REPO}/rules" \
            "${DATA}"
        time_into "${WORK}/t.stdin" sh -c 'exec "$0" replay --quiet --rules "$1" - <"$2"' \
            "${BIN}/mspwatch" "${REPO}/rules" "${DATA}"
        time_into "${WORK}/t.ignored" "${BIN}/mspwatch-baseline" parse --into ignored "${DATA}"
        time_into "${WORK}/t.value" "${BIN}/mspwatch-baseline" parse --into value "${DATA}"
        line="$(python3 "${REPO}/scripts/bench_duckdb.py" --records "${EVENTS}" "${DATA}")"
        duck_times "${line}" >>"${WORK}/t.duck"
        log "${line}"
        line="$(python3 "${REPO}/scripts/bench_duckdb.py" --threads 1 --records "${EVENTS}" \
            "${DATA}")"
        duck_times "${line}" >>"${WORK}/t.duck1"
        log "${line}"
        log "run ${run} (wall cpu): replay $(tail -n 1 "${WORK}/t.replay")," \
            "from standard input $(tail -n 1 "${WORK}/t.stdin")," \
            "parse $(tail -n 1 "${WORK}/t.ignored") and $(tail -n 1 "${WORK}/t.value")"
    done
    for side in replay stdin ignored value duck duck1; do
        printf -v "WALL_${side}" '%s' "$(cut -d' ' -f1 "${WORK}/t.${side}" | median)"
        printf -v "CPU_${side}" '%s' "$(cut -d' ' -f2 "${WORK}/t.${side}" | median)"
    done
}

start_broker() {
    local env
    env="$("${REPO}/scripts/tansu.sh" start)"
    BROKERS="${env##*MSPWATCH_BROKERS=}"
    log "broker at ${BROKERS}"
}

topic() {
    "${REPO}/scripts/tansu.sh" topic "$1" "$2" >/dev/null
}

write_tokens() {
    "${BIN}/mspwatch" token new >"${WORK}/soc.token"
    {
        echo "[[tokens]]"
        echo 'name = "bench"'
        "${BIN}/mspwatch" token hash <"${WORK}/soc.token"
        echo 'msps = ["*"]'
    } >"${WORK}/tokens.toml"
}

# Writes a configuration with the shipped defaults (examples/mspwatch.toml) but local topics
# and addresses; $1 names it, $2 is the audit topic, $3 more [detector] lines.
write_config() {
    local name="$1" audit="$2" detector_extra="${3:-}"
    cat >"${WORK}/${name}.toml" <<EOF
[kafka]
brokers = ["${BROKERS}"]
audit_topics = ["${audit}"]
alerts_topic = "${name}.alerts"
dead_letter_topic = "${name}.dead"
consumer_group = "${name}.detector"
start_from = "earliest"

[detector]
rules_dir = "${REPO}/rules"
${detector_extra}

[grpc]
listen = "127.0.0.1:0"
tokens_file = "${WORK}/tokens.toml"

[metrics]
listen = "127.0.0.1:0"

[log]
format = "json"
level = "info,rdkafka=warn"
EOF
    topic "${name}.alerts" "${PARTITIONS}"
    topic "${name}.dead" 1
}

# Starts `mspwatch run` with configuration $1 and waits for its addresses and, when $2 is
# set, for every audit partition to be assigned.
start_detector() {
    local name="$1" wait_assigned="${2:-}" waited=0
    "${BIN}/mspwatch" run --config "${WORK}/${name}.toml" 2>"${WORK}/${name}.log" &
    DETECTOR_PID=$!
    until grep -q '"mspwatch started"' "${WORK}/${name}.log" 2>/dev/null; do
        sleep 0.05
        waited=$((waited + 1))
        if ((waited > 600)) || ! kill -0 "${DETECTOR_PID}" 2>/dev/null; then
            cat "${WORK}/${name}.log" >&2
            log "the detector did not start"
            exit 1
        fi
    done
    local started
    started="$(grep '"mspwatch started"' "${WORK}/${name}.log" | head -n 1)"
    GRPC="$(sed -n 's/.*"grpc_address":"\([^"]*\)".*/\1/p' <<<"${started}")"
    METRICS="$(sed -n 's/.*"metrics_address":"\([^"]*\)".*/\1/p' <<<"${started}")"
    if [[ -n "${wait_assigned}" ]]; then
        waited=0
        while (($(grep -c '"partition assigned"' "${WORK}/${name}.log") < PARTITIONS)); do
            sleep 0.05
            waited=$((waited + 1))
            ((waited < 1200)) || { log "partitions not assigned"; exit 1; }
        done
    fi
}

stop_detector() {
    if [[ -n "${DETECTOR_PID}" ]] && kill -0 "${DETECTOR_PID}" 2>/dev/null; then
        kill -TERM "${DETECTOR_PID}" 2>/dev/null || true
        wait "${DETECTOR_PID}" 2>/dev/null || true
    fi
    DETECTOR_PID=""
}

# The msgs/s and the CPU µs/record of a consume or watch line, as "RATE CPU".
rate_and_cpu() {
    echo "$(number_before "$1" "msgs/s") $(number_before "$1" "µs/record")"
}

# 2. `mspwatch run` against a bare consumer, reading the same preloaded topic: the bare
# consumer once with mspwatch's consumer settings, once with the fetch queue backoff lowered
# to 10 ms (what this broker can deliver).
compare_consumption() {
    log "loading ${LIVE_EVENTS} records into bench.audit (${PARTITIONS} partitions)"
    head -n "${LIVE_EVENTS}" "${DATA}" >"${WORK}/live.jsonl"
    topic bench.audit "${PARTITIONS}"
    "${BIN}/mspwatch-baseline" produce --brokers "${BROKERS}" --topic bench.audit \
        "${WORK}/live.jsonl" >&2
    : >"${WORK}/r.bare"
    : >"${WORK}/r.fast"
    : >"${WORK}/r.live"
    local run line consume=("${BIN}/mspwatch-baseline" consume --brokers "${BROKERS}"
        --topic bench.audit --count "${LIVE_EVENTS}")
    for run in $(seq 1 "${RUNS}"); do
        line="$("${consume[@]}")"
        log "run ${run}: bare, mspwatch's settings: ${line}"
        rate_and_cpu "${line}" >>"${WORK}/r.bare"
        line="$("${consume[@]}" --set fetch.queue.backoff.ms=10)"
        log "run ${run}: bare, fetch.queue.backoff.ms=10: ${line}"
        rate_and_cpu "${line}" >>"${WORK}/r.fast"
        write_config "live${run}" bench.audit
        start_detector "live${run}"
        line="$("${BIN}/mspwatch-baseline" watch --metrics "${METRICS}" --pid "${DETECTOR_PID}" \
            --count "${LIVE_EVENTS}")"
        stop_detector
        log "run ${run}: mspwatch run: ${line}"
        rate_and_cpu "${line}" >>"${WORK}/r.live"
    done
    for side in bare fast live; do
        printf -v "RATE_${side}" '%s' "$(cut -d' ' -f1 "${WORK}/r.${side}" | median)"
        printf -v "MICROS_${side}" '%s' "$(cut -d' ' -f2 "${WORK}/r.${side}" | median)"
    done
}

# Prints "p50 / p99 / max" in ms from a latency line.
percentiles() {
    local p50 p99 max missing
    p50="$(grep -oE 'p50 [0-9.]+' <<<"$1" | cut -d' ' -f2)"
    p99="$(grep -oE 'p99 [0-9.]+' <<<"$1" | cut -d' ' -f2)"
    max="$(grep -oE 'max [0-9.]+' <<<"$1" | cut -d' ' -f2)"
    missing="$(grep -oE '[0-9]+ missing' <<<"$1" | cut -d' ' -f1)"
    echo "${p50} / ${p99} / ${max}$([[ "${missing}" == 0 ]] || echo " (${missing} missing)")"
}

# Alert latency of a detector with configuration $1 under $2 background records per second,
# with $3 more [detector] lines; sets RESULT.
alert_latency() {
    local name="$1" rate="$2" detector_extra="${3:-}" line
    topic "${name}.audit" "${PARTITIONS}"
    write_config "${name}" "${name}.audit" "${detector_extra}"
    start_detector "${name}" wait
    line="$("${BIN}/mspwatch-baseline" alert-latency --brokers "${BROKERS}" \
        --topic "${name}.audit" --grpc "${GRPC}" --token-file "${WORK}/soc.token" --msp "${MSP}" \
        --attacks "${ATTACKS}" --background-rate "${rate}")"
    stop_detector
    log "${name}: ${line}"
    RESULT="$(percentiles "${line}")"
}

# Bare latency of ten seconds of pings at $1 per second, more options after; sets RESULT.
pingpong() {
    local rate="$1" line
    shift
    line="$("${BIN}/mspwatch-baseline" pingpong --brokers "${BROKERS}" --rate "${rate}" \
        --count "$((rate * 10))" "$@")"
    log "pingpong $* at ${rate}/s: ${line}"
    RESULT="$(percentiles "${line}")"
}

# 3. Alert latency against bare produce-to-consume latency, quiet and under load.
compare_latency() {
    log "latency: bare produce-to-consume, then alerts over gRPC"
    topic ping.one 1
    topic ping.relay 1
    pingpong 10 --topic ping.one
    LAT_PING_QUIET="${RESULT}"
    pingpong 10 --topic ping.one --relay-topic ping.relay
    LAT_PING2_QUIET="${RESULT}"
    pingpong "${RATE}" --topic ping.one
    LAT_PING_LOAD="${RESULT}"
    pingpong "${RATE}" --topic ping.one --relay-topic ping.relay
    LAT_PING2_LOAD="${RESULT}"
    alert_latency quiet 0
    LAT_ALERT_QUIET="${RESULT}"
    alert_latency loaded "${RATE}"
    LAT_ALERT_LOAD="${RESULT}"
    alert_latency hold1s "${RATE}" 'reorder_hold = "1s"'
    LAT_ALERT_HOLD="${RESULT}"
}

machine() {
    local cpu memory
    cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    memory="$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "$(nproc) cores (${cpu}), ${memory}, $(uname -sr), $(date -u +%F)"
}

# "WALL_RATE (CPU_RATE)" of replay comparison side $1: records per second of wall-clock time,
# and per second of CPU time.
rates() {
    local wall="WALL_$1" cpu="CPU_$1"
    echo "$(rate_of "${!wall}") ($(rate_of "${!cpu}"))"
}

report() {
    cat <<EOF

Machine: $(machine)
Records: ${EVENTS} canonical (${DATA_MB} MB); medians of ${RUNS} interleaved runs.
Load average before and after: ${LOAD_BEFORE} / $(cut -d' ' -f1-3 /proc/loadavg).

| comparison | mspwatch | reference | figure |
| --- | --- | --- | --- |
| 1. replay, records/s (per CPU-second) | replay FILE, 9 rules: $(rates replay) | serde_json to IgnoredAny: $(rates ignored) | whole process, file in page cache |
| | replay - < FILE (one pass): $(rates stdin) | serde_json to Value: $(rates value) | |
| | | DuckDB, all cores: $(rates duck) | query only, Python start excluded |
| | | DuckDB, 1 thread: $(rates duck1) | |
| 2. live intake, msgs/s (CPU µs/record) | mspwatch run: ${RATE_live%.*} (${MICROS_live}) | bare consumer, same settings: ${RATE_bare%.*} (${MICROS_bare}) | ${LIVE_EVENTS} records, ${PARTITIONS} partitions, first to last |
| | | bare consumer, fetch.queue.backoff.ms=10: ${RATE_fast%.*} (${MICROS_fast}) | |
| 3. latency, ms p50 / p99 / max | alert, quiet topic: ${LAT_ALERT_QUIET} | 1 hop at 10/s: ${LAT_PING_QUIET} | mspwatch: produce to gRPC receipt |
| | | 2 hops at 10/s: ${LAT_PING2_QUIET} | |
| | alert, ${RATE}/s background: ${LAT_ALERT_LOAD} | 1 hop at ${RATE}/s: ${LAT_PING_LOAD} | |
| | alert, ${RATE}/s, reorder_hold 1s: ${LAT_ALERT_HOLD} | 2 hops at ${RATE}/s: ${LAT_PING2_LOAD} | |
EOF
}

main() {
    command -v python3 >/dev/null || { log "python3 is needed"; exit 1; }
    build
    LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
    generate
    DATA_MB="$(($(stat -c %s "${DATA}") / 1000000))"
    compare_replay
    start_broker
    write_tokens
    compare_consumption
    compare_latency
    report
}

main "$@"
