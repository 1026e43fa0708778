#!/usr/bin/env bash
# bench/instructions.sh: instructions executed by the service per request, counted by callgrind.
# Unlike requests/s or CPU time, the count does not depend on what else the machine is doing,
# so two builds can be compared on a busy machine (bench/run.sh's telemetry scenario does).
#
#   bench/instructions.sh BINARY REDIS_PORT PATH [VAR=VALUE...]
#
# Starts BINARY under valgrind --tool=callgrind with APP_THREADS=1 on a free loopback port
# (against the redis-server on 127.0.0.1:REDIS_PORT), sends GET PATH once, warms up for a
# second with wrk, then counts the instructions of 8 s of wrk GET PATH and prints one line:
# `<instructions per request> <requests>`. One connection, so that every request takes the same
# path through the event loop (with several, how many requests share a wakeup varies from run
# to run, and the count by about 1.5%); repeated runs then agree within about 0.5%. Extra VAR=VALUE pairs go to the
# service's environment. Stops what it started, by PID.
#
# INSTRUCTIONS_WRK_SCRIPT=bench/wrk/ingest_batch.lua (any wrk Lua script) makes the requests
# instead of GET PATH, e.g. POSTs with a body; the script names its own path (PATH is then only
# where wrk connects). Any answer other than 2xx or 3xx fails the count.
# INSTRUCTIONS_PROFILE=FILE keeps the callgrind profile of the counted run there (read it with
# callgrind_annotate).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

[[ $# -ge 3 ]] || { echo "usage: $0 BINARY REDIS_PORT PATH [VAR=VALUE...]" >&2; exit 2; }
binary=$1 redis_port=$2 path=$3
shift 3
for tool in valgrind callgrind_control wrk; do
    command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is missing" >&2; exit 2; }
done

work=$(mktemp -d /tmp/analytics-instructions.XXXXXX)
pid=
cleanup() {
    [[ -n "$pid" ]] && { stop_pid "$pid"; wait "$pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

env -i PATH="$PATH" APP_HOST=127.0.0.1 APP_PORT=0 APP_THREADS=1 LOG_LEVEL=WARNING \
    REDIS_HOST=127.0.0.1 REDIS_PORT="$redis_port" "$@" \
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.out" \
    "$binary" >"$work/service.log" 2>&1 &
pid=$!
port=
for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { cat "$work/service.log" >&2; exit 1; }
    [[ -n "$port" ]] || port=$(listening_port "$pid" || true)
    [[ -n "$port" && $(http_status "http://127.0.0.1:$port/ready") == 200 ]] && break
    sleep 0.1
done
url="http://127.0.0.1:$port$path"
[[ -n "$port" && $(http_status "http://127.0.0.1:$port/ready") == 200 ]] \
    || { cat "$work/service.log" >&2; echo "instructions.sh: the service never became ready" >&2; exit 1; }
curl -s -o /dev/null "$url"
script=()
[[ -n "${INSTRUCTIONS_WRK_SCRIPT:-}" ]] && script=(-s "$INSTRUCTIONS_WRK_SCRIPT")

callgrind_control --instr=on "$pid" >/dev/null 2>&1
wrk -t1 -c1 -d1s "${script[@]}" "$url" >/dev/null
callgrind_control --zero "$pid" >/dev/null 2>&1
wrk -t1 -c1 -d8s "${script[@]}" "$url" >"$work/wrk.out"
callgrind_control --dump "$pid" >/dev/null 2>&1
if grep -q 'Non-2xx or 3xx responses' "$work/wrk.out"; then
    cat "$work/wrk.out" >&2
    echo "instructions.sh: some answers were errors" >&2
    exit 1
fi

instructions=$(awk '/^totals:/ { print $2 }' "$work"/callgrind.out.*)
[[ -n "${INSTRUCTIONS_PROFILE:-}" ]] && cat "$work"/callgrind.out.* >"$INSTRUCTIONS_PROFILE"
requests=$(awk '/requests in/ { print $1 }' "$work/wrk.out")
[[ -n "$instructions" && -n "$requests" && "$requests" -gt 0 ]] \
    || { cat "$work/wrk.out" >&2; echo "instructions.sh: nothing counted" >&2; exit 1; }
awk -v i="$instructions" -v n="$requests" 'BEGIN { printf "%.0f %d\n", i / n, n }'
