#!/usr/bin/env bash
# What running several instances costs, on loopback: a private redis-server, instances of the
# service and an nginx with the project's proxy settings (deploy/nginx/), driven by wrk.
#
#   balancer   ingest and a cached summary: straight to one instance, through nginx to that one,
#              and through nginx to three; nginx's CPU per request is measured
#   breaker    summary misses straight to one instance, CIRCUIT_BREAKER_SCOPE=instance against
#              cluster (the cost of the shared breaker on the miss path: its Redis calls)
#
#   bench/fleet.sh                      both, 5 s per run
#   BENCH_DURATION=10 BENCH_CONNECTIONS=64 bench/fleet.sh
#   BENCH_BUILD_DIR=build/release       the build whose analytics-api runs (built if missing)
#   BENCH_APP_THREADS=1                 APP_THREADS of each instance
#   BENCH_PARTS="balancer breaker"
#
# Prints one line per run: requests/s, latency percentiles, CPU per request of the instances,
# of nginx and of Redis, and Redis calls per request. Stops everything it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/lib.sh
source bench/lib.sh

DURATION=${BENCH_DURATION:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
WRK_THREADS=${BENCH_THREADS:-2}
APP_THREADS=${BENCH_APP_THREADS:-1}
BUILD_DIR=${BENCH_BUILD_DIR:-build/release}
PARTS=" ${BENCH_PARTS:-balancer breaker} "
API_BIN=$ROOT/$BUILD_DIR/analytics-api
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
CLK_TCK=$(getconf CLK_TCK)

bench_prepare fleet-bench

# start_nginx PORT...: nginx (one process, one worker) in front of the given instance ports.
# Sets NGINX_PID and NGINX_PORT.
start_nginx() {
    local dir=$WORK/nginx-$RANDOM port p i
    mkdir -p "$dir/tmp"
    for _ in $(seq 1 20); do
        port=$(((RANDOM % 30000) + 20000))
        {
            echo "daemon off; master_process off; worker_processes 1;"
            echo "pid $dir/nginx.pid; error_log $dir/error.log warn;"
            echo "events { worker_connections 4096; }"
            echo "http {"
            echo "  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;"
            echo "  fastcgi_temp_path $dir/tmp/fastcgi; uwsgi_temp_path $dir/tmp/uwsgi;"
            echo "  scgi_temp_path $dir/tmp/scgi;"
            echo "  include $ROOT/deploy/nginx/proxy.conf;"
            echo "  access_log off;"
            echo "  upstream analytics_api {"
            for p in "$@"; do
                echo "    server 127.0.0.1:$p max_fails=1 fail_timeout=5s;"
            done
            echo "    keepalive 64; keepalive_requests 1000000; keepalive_timeout 30s;"
            echo "  }"
            echo "  keepalive_requests 1000000;"
            echo "  server { listen 127.0.0.1:$port; include $ROOT/deploy/nginx/server.conf; }"
            echo "}"
        } >"$dir/nginx.conf"
        "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
        NGINX_PID=$!
        for i in $(seq 1 100); do
            if [[ $(http_status "http://127.0.0.1:$port/health") == 200 ]]; then
                NGINX_PORT=$port
                STARTED_PIDS+=("$NGINX_PID")
                return 0
            fi
            kill -0 "$NGINX_PID" 2>/dev/null || break
            sleep 0.05
        done
        stop_pid "$NGINX_PID"
    done
    cat "$dir/error.log" >&2 || true
    die "could not start nginx"
}

stop_nginx() {
    stop_pid "$NGINX_PID"
    wait "$NGINX_PID" 2>/dev/null || true
    local kept=() pid
    for pid in "${STARTED_PIDS[@]}"; do
        [[ "$pid" != "$NGINX_PID" ]] && kept+=("$pid")
    done
    STARTED_PIDS=("${kept[@]}")
}

# "COMMANDS SCRIPTS": every command Redis ran (those inside scripts included), and the script
# calls among them (EVALSHA and EVAL), which are the round trips.
redis_calls() {
    redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' \
        | awk -F'[:=,]' '/^cmdstat_/ { n += $3 } /^cmdstat_eval/ { e += $3 }
                         END { print n + 0, e + 0 }'
}

printf '%-34s %8s %7s %7s %7s %8s %8s %8s %7s %7s %s\n' run "req/s" "p50 ms" "p99 ms" \
    "non-2xx" "api us" "lb us" "redis us" "cmds" "scripts" statuses
echo "(us: CPU microseconds per request; cmds: Redis commands per request, those run inside" \
    "scripts included; scripts: script calls per request)"

# run NAME SCRIPT URL "API PIDS" [LB PID]
run() {
    local name=$1 script=$2 url=$3 api_pids=$4 lb_pid=${5:-}
    local a0 a1 l0=0 l1=0 r0 r1 c0 c1 e0 e1 out line requests duration_us
    a0=$(cpu_ticks $api_pids)
    [[ -n "$lb_pid" ]] && l0=$(cpu_ticks "$lb_pid")
    r0=$(cpu_ticks "$REDIS_PID")
    read -r c0 e0 <<<"$(redis_calls)"
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
        -s "$ROOT/bench/wrk/$script" "$url" >"$WORK/wrk-$name.out" 2>&1 \
        || { cat "$WORK/wrk-$name.out" >&2; die "wrk failed in $name"; }
    a1=$(cpu_ticks $api_pids)
    [[ -n "$lb_pid" ]] && l1=$(cpu_ticks "$lb_pid")
    r1=$(cpu_ticks "$REDIS_PID")
    read -r c1 e1 <<<"$(redis_calls)"
    out=$(<"$WORK/wrk-$name.out")
    line=$(grep '^BENCH_RESULT ' <<<"$out" | head -n1)
    [[ -n "$line" ]] || { echo "$out" >&2; die "no result from wrk in $name"; }
    requests=$(kv requests "$line")
    duration_us=$(kv duration_us "$line")
    local statuses non2xx=0 item
    statuses=$(kv statuses "$line")
    IFS=, read -ra items <<<"$statuses"
    for item in "${items[@]}"; do
        [[ -n "$item" && "${item%%:*}" != 2?? ]] && non2xx=$((non2xx + ${item#*:}))
    done
    awk -v n="$name" -v req="$requests" -v us="$duration_us" -v p50="$(kv p50_us "$line")" \
        -v p99="$(kv p99_us "$line")" -v bad="$non2xx" -v tck="$CLK_TCK" \
        -v a="$((a1 - a0))" -v l="$((l1 - l0))" -v r="$((r1 - r0))" -v c="$((c1 - c0))" \
        -v e="$((e1 - e0))" -v lb="$lb_pid" -v st="$statuses" 'BEGIN {
            q = req > 0 ? req : 1
            lbus = lb == "" ? "-" : sprintf("%.1f", l * 1e6 / tck / q)
            printf "%-34s %8.0f %7.2f %7.2f %7d %8.1f %8s %8.1f %7.2f %7.2f %s\n", n,
                req / (us / 1e6), p50 / 1000, p99 / 1000, bad, a * 1e6 / tck / q, lbus,
                r * 1e6 / tck / q, c / q, e / q, st
        }'
}

summary_url() { echo "http://127.0.0.1:$1/api/metrics/summary?type=bench_cpu"; }

if [[ "$PARTS" == *" balancer "* ]]; then
    start_instance a REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT"; A_PID=$SVC_PID; A_PORT=$SVC_PORT
    start_instance b REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT"; B_PID=$SVC_PID; B_PORT=$SVC_PORT
    start_instance c REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT"; C_PID=$SVC_PID; C_PORT=$SVC_PORT
    curl -fsS -o /dev/null "$(summary_url "$A_PORT")"  # the cached summary every run reads

    run "ingest, direct to 1" ingest.lua "http://127.0.0.1:$A_PORT/api/metrics" "$A_PID"
    start_nginx "$A_PORT"
    run "ingest, nginx -> 1" ingest.lua "http://127.0.0.1:$NGINX_PORT/api/metrics" "$A_PID" "$NGINX_PID"
    run "summary hit, direct to 1" get.lua "$(summary_url "$A_PORT")" "$A_PID"
    run "summary hit, nginx -> 1" get.lua "$(summary_url "$NGINX_PORT")" "$A_PID" "$NGINX_PID"
    stop_nginx
    start_nginx "$A_PORT" "$B_PORT" "$C_PORT"
    run "ingest, nginx -> 3" ingest.lua "http://127.0.0.1:$NGINX_PORT/api/metrics" \
        "$A_PID $B_PID $C_PID" "$NGINX_PID"
    run "summary hit, nginx -> 3" get.lua "$(summary_url "$NGINX_PORT")" \
        "$A_PID $B_PID $C_PID" "$NGINX_PID"
    stop_nginx
    for pid in "$A_PID" "$B_PID" "$C_PID"; do
        stop_pid "$pid"
        wait "$pid" 2>/dev/null || true
    done
    STARTED_PIDS=()
fi

if [[ "$PARTS" == *" breaker "* ]]; then
    # Alternating rounds, so that a neighbour's load on the shared cores hits both alike.
    start_instance scope_instance REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" \
        CIRCUIT_BREAKER_SCOPE=instance; I_PID=$SVC_PID; I_PORT=$SVC_PORT
    start_instance scope_cluster REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" \
        CIRCUIT_BREAKER_SCOPE=cluster; K_PID=$SVC_PID; K_PORT=$SVC_PORT
    for round in 1 2; do
        BENCH_MISS_PREFIX=inst$round run "summary miss, scope instance ($round)" summary_miss.lua \
            "http://127.0.0.1:$I_PORT/api/metrics/summary" "$I_PID"
        BENCH_MISS_PREFIX=clus$round run "summary miss, scope cluster ($round)" summary_miss.lua \
            "http://127.0.0.1:$K_PORT/api/metrics/summary" "$K_PID"
    done
fi
