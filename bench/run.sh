#!/usr/bin/env bash
# Tollgate's benchmark: the gateway against a fast mock upstream on loopback, every
# scenario measured direct and through the gateway with the same client and bodies.
#
#   bench/run.sh                 # full run (about 4 minutes after the build)
#   BENCH_SCALE=0.2 bench/run.sh # quick smoke run
#
# Pinning (2-core machine): the gateway alone on core 0; the mock upstream and the load
# generator share core 1. Override with BENCH_GATEWAY_CORE / BENCH_CLIENT_CORE.
# Writes bench/results/latest.md and bench/results/latest.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCALE="${BENCH_SCALE:-1}"
GATEWAY_CORE="${BENCH_GATEWAY_CORE:-0}"
CLIENT_CORE="${BENCH_CLIENT_CORE:-1}"
OUT="${BENCH_OUT:-$ROOT/bench/results}"
BIN="$ROOT/target/release"

echo "== build (release): tollgate, mock-upstream, tollgate-loadgen, tollgate-nullproxy"
cargo build --release --quiet \
    -p tollgate --bin tollgate \
    -p tollgate-tests --bin mock-upstream \
    -p tollgate-bench --bin tollgate-loadgen --bin tollgate-nullproxy

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")"
# Run private copies: a concurrent `cargo build` must not swap a binary mid-run.
mkdir -p "$WORK/bin"
cp "$BIN/tollgate" "$BIN/mock-upstream" "$BIN/tollgate-loadgen" "$BIN/tollgate-nullproxy" "$WORK/bin/"
BIN="$WORK/bin"
PIDS=()
cleanup() {
    local status=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $status -ne 0 ]]; then
        for f in "$WORK"/*.err; do
            [[ -s "$f" ]] && { echo "--- $f (last lines)"; tail -n 20 "$f"; }
        done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_line FILE PATTERN PID: print the first line of FILE matching PATTERN.
wait_for_line() {
    local file=$1 pattern=$2 pid=$3
    for _ in $(seq 1 300); do
        if grep -q "$pattern" "$file" 2>/dev/null; then
            grep -m1 "$pattern" "$file"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || { echo "process $pid exited early" >&2; return 1; }
        sleep 0.1
    done
    echo "timed out waiting for '$pattern' in $file" >&2
    return 1
}

echo "== start mock upstream (core $CLIENT_CORE)"
taskset -c "$CLIENT_CORE" "$BIN/mock-upstream" --listen 127.0.0.1:0 \
    >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
MOCK_URL="$(wait_for_line "$WORK/mock.out" "listening on" "$MOCK_PID" | sed 's/.*listening on //')"

echo "== start gateway (core $GATEWAY_CORE) in front of $MOCK_URL"
TOLLGATE_ANTHROPIC_BASE_URL="$MOCK_URL" \
    taskset -c "$GATEWAY_CORE" "$BIN/tollgate" serve \
    --listen 127.0.0.1:0 --data-dir "$WORK/data" \
    >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
GATEWAY_URL="$(wait_for_line "$WORK/gateway.out" "listening on" "$GATEWAY_PID" | sed 's/.*listening on //')"

echo "== start translating gateway (core $GATEWAY_CORE): bench/translated.toml"
TOLLGATE_BENCH_MOCK_URL="$MOCK_URL" \
    taskset -c "$GATEWAY_CORE" "$BIN/tollgate" serve \
    --config "$ROOT/bench/translated.toml" \
    --listen 127.0.0.1:0 --data-dir "$WORK/data-translated" \
    >"$WORK/translated.out" 2>"$WORK/translated.err" &
TRANSLATED_PID=$!
PIDS+=("$TRANSLATED_PID")
TRANSLATED_URL="$(wait_for_line "$WORK/translated.out" "listening on" "$TRANSLATED_PID" | sed 's/.*listening on //')"

echo "== start reference minimal proxy (core $GATEWAY_CORE)"
taskset -c "$GATEWAY_CORE" "$BIN/tollgate-nullproxy" --listen 127.0.0.1:0 --upstream "$MOCK_URL" \
    >"$WORK/nullproxy.out" 2>"$WORK/nullproxy.err" &
NULL_PID=$!
PIDS+=("$NULL_PID")
NULL_URL="$(wait_for_line "$WORK/nullproxy.out" "listening on" "$NULL_PID" | sed 's/.*listening on //')"
echo "   mock $MOCK_URL (pid $MOCK_PID), gateway $GATEWAY_URL (pid $GATEWAY_PID), translating gateway $TRANSLATED_URL (pid $TRANSLATED_PID), minimal proxy $NULL_URL (pid $NULL_PID)"

CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' || true)"
NOTES=(
    "Machine: $(nproc) cores (${CPU_MODEL:-unknown CPU}), Linux $(uname -r), $(rustc --version)."
    "Pinning: gateway on core $GATEWAY_CORE (taskset), with the idle-while-unmeasured translating gateway and minimal proxy; mock upstream and load generator share core $CLIENT_CORE."
    "Translating gateway: same binary, bench/translated.toml (Anthropic front door → openai target; openai-responses front door → anthropic target; one target each, built-in router and price table, sled trace record)."
    "Minimal proxy: tollgate-nullproxy (bench/), hyper HTTP/1.1, body read whole then forwarded on a keep-alive upstream connection, no plugins: the cost of the extra hop alone."
    "Gateway: built-in default config (provider-anthropic summarize, router-weighted, cost-pricetable, sled trace record); git $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- host plugins wit 2>/dev/null || echo ' + local changes')."
)
NOTE_ARGS=()
for n in "${NOTES[@]}"; do NOTE_ARGS+=(--note "$n"); done

echo "== load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min); a load well above 0 means the numbers carry noise"
echo "== run scenarios (scale $SCALE)"
timeout 900 taskset -c "$CLIENT_CORE" "$BIN/tollgate-loadgen" suite \
    --direct "$MOCK_URL" --gateway "$GATEWAY_URL" --gateway-pid "$GATEWAY_PID" --reference "$NULL_URL" \
    --translated "$TRANSLATED_URL" --translated-pid "$TRANSLATED_PID" \
    --scale "$SCALE" --out "$OUT" "${NOTE_ARGS[@]}"
