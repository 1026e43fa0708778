#!/usr/bin/env bash
# start.sh and stop.sh as a user meets them, in a scratch copy of the scripts (its own var/ and
# .env), with the analytics-api binary already built (ANALYTICS_BINARY, so no release build) and
# loopback ports only:
#   1. APP_PORT taken: start.sh fails, says to set APP_PORT, and leaves no redis-server behind;
#   2. Redis on another port after the service died: each Redis keeps its own pid file and AOF
#      directory, and stop.sh stops both.
# Needs: ANALYTICS_BINARY (the binary) and ANALYTICS_SOURCE_DIR (the checkout). Stops whatever it
# started, whatever happens.
set -euo pipefail
source "$ANALYTICS_SOURCE_DIR/scripts/lib.sh"

work=$(mktemp -d)
blocker_pid=""
redis_ports=()
cleanup() {
    set +e
    (cd "$work/app" && ./stop.sh >/dev/null 2>&1)
    for pidfile in "$work"/app/var/*.pid; do
        [[ -f "$pidfile" ]] && stop_pid "$(cat "$pidfile")"
    done
    # A Redis whose pid file was lost (what this test looks for) is found by its port, and
    # stopped only if its files are in this test's directory.
    for port in "${redis_ports[@]}"; do
        if [[ "$(redis-cli -h 127.0.0.1 -p "$port" config get dir 2>/dev/null | tail -n 1)" == \
              "$work"/* ]]; then
            redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1
        fi
    done
    [[ -n "$blocker_pid" ]] && stop_pid "$blocker_pid"
    rm -rf "$work"
}
trap cleanup EXIT

failures=0
check() {
    local what="$1"
    shift
    if "$@"; then
        echo "ok: $what"
    else
        echo "FAILED: $what" >&2
        failures=$((failures + 1))
    fi
}
answers_ping() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }
not() { ! "$@"; }
# A loopback port nothing listens on (bash's /dev/tcp connects or fails at once), below the
# kernel's range of ephemeral ports: a port in that range can be the local end of some outgoing
# connection, which a connect does not see but which makes a bind to it fail.
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
unused_port() {
    local port
    while true; do
        port=$(((RANDOM % (ephemeral_low - 10000)) + 10000))
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
    done
}

mkdir -p "$work/app/scripts"
cp "$ANALYTICS_SOURCE_DIR"/{start.sh,stop.sh,.env.example} "$work/app/"
cp "$ANALYTICS_SOURCE_DIR/scripts/lib.sh" "$work/app/scripts/"
work_app="$work/app"
run_start() {
    (cd "$work_app" && APP_HOST=127.0.0.1 REDIS_HOST=127.0.0.1 APP_PORT="$1" REDIS_PORT="$2" \
        ./start.sh) >"$work/start.out" 2>&1
}

# --- 1. APP_PORT is taken (by a redis-server of this test) ---------------------------------------
start_private_redis "$work/blocker"
blocker_pid=$REDIS_PID
taken=$REDIS_PORT
redis_a=$(unused_port)
redis_ports+=("$redis_a")
status=0
run_start "$taken" "$redis_a" || status=$?
cat "$work/start.out"
check "start.sh fails when APP_PORT is taken" test "$status" -ne 0
check "the error suggests setting APP_PORT" grep -q "set APP_PORT to a free port" "$work/start.out"
check "the redis-server it started is stopped" not answers_ping "$redis_a"
check "no pid file is left for it" test ! -e "$work_app/var/redis-$redis_a.pid"
check "no pid file is left for the service" test ! -e "$work_app/var/analytics-api.pid"
stop_pid "$blocker_pid"
blocker_pid=""

# --- 2. one Redis per port ------------------------------------------------------------------------
app_port=$(unused_port)
check "start.sh starts with a free APP_PORT" run_start "$app_port" "$redis_a"
check "its Redis writes a pid file of its own" pid_alive "$work_app/var/redis-$redis_a.pid"
# The service dies (a crash, a kill): its Redis stays, and the next start uses another port.
stop_pidfile analytics-api "$work_app/var/analytics-api.pid" >/dev/null
redis_b=$(unused_port)
while [[ "$redis_b" == "$redis_a" || "$redis_b" == "$app_port" ]]; do redis_b=$(unused_port); done
redis_ports+=("$redis_b")
check "start.sh starts again with another REDIS_PORT" run_start "$app_port" "$redis_b"
pid_a=$(cat "$work_app/var/redis-$redis_a.pid" 2>/dev/null || echo none)
pid_b=$(cat "$work_app/var/redis-$redis_b.pid" 2>/dev/null || echo none)
check "the first Redis keeps its pid file and runs" pid_alive "$work_app/var/redis-$redis_a.pid"
check "the second Redis has its own pid file" pid_alive "$work_app/var/redis-$redis_b.pid"
check "the two pid files name two processes" test "$pid_a" != "$pid_b"
dir_of() { redis-cli -h 127.0.0.1 -p "$1" config get dir 2>/dev/null | tail -n 1; }
check "the first Redis keeps its AOF in var/redis-$redis_a" \
    test "$(dir_of "$redis_a")" == "$work_app/var/redis-$redis_a"
check "the second Redis keeps its AOF in var/redis-$redis_b" \
    test "$(dir_of "$redis_b")" == "$work_app/var/redis-$redis_b"
check "each AOF directory holds an append-only file" \
    test -d "$work_app/var/redis-$redis_a/appendonlydir" -a \
         -d "$work_app/var/redis-$redis_b/appendonlydir"

(cd "$work_app" && ./stop.sh) >"$work/stop.out" 2>&1 || true
cat "$work/stop.out"
check "stop.sh stops the first Redis" not answers_ping "$redis_a"
check "stop.sh stops the second Redis" not answers_ping "$redis_b"
check "stop.sh stops the service" not pid_alive "$work_app/var/analytics-api.pid"
check "stop.sh removes every pid file" test -z "$(ls "$work_app"/var/*.pid 2>/dev/null)"

if [[ $failures -gt 0 ]]; then
    echo "$failures check(s) failed; start.sh said:" >&2
    cat "$work/start.out" >&2
    exit 1
fi
