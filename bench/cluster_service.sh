#!/usr/bin/env bash
# The service on one redis-server against the service on a Redis Cluster of 3 masters + 3
# replicas (scripts/redis-cluster.sh), both on loopback with AOF (appendfsync everysec), driven
# by wrk with the same load:
#
#   throughput  ingest (single metrics of 16 types), batch ingest (100 metrics of 16 types),
#               list (limit 100) and a cached summary, against each deployment in turn; Redis
#               CPU per metric (per request for reads) summed over the masters (INFO cpu)
#   share       each master's share of the ingest work (Redis CPU and commands run, INFO cpu
#               and INFO commandstats) with 16 types and with 1000 types, rate limiting off so
#               that only the metrics' own keys count (every request of this bench comes from
#               one client, whose limiter key lives on one master)
#
#   bench/cluster_service.sh                    both parts, 5 s per run
#   BENCH_DURATION=10 BENCH_CONNECTIONS=32 bench/cluster_service.sh
#   BENCH_BUILD_DIR=build/release               the build whose analytics-api runs (built if missing)
#   BENCH_APP_THREADS=1                         APP_THREADS of each service
#   BENCH_PARTS="throughput share"
#
# Prints one line per run. Stops everything it started, by PID, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/lib.sh
source bench/lib.sh

DURATION=${BENCH_DURATION:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
WRK_THREADS=${BENCH_THREADS:-1}
APP_THREADS=${BENCH_APP_THREADS:-1}
BUILD_DIR=${BENCH_BUILD_DIR:-build/release}
PARTS=" ${BENCH_PARTS:-throughput share} "
API_BIN=$ROOT/$BUILD_DIR/analytics-api

bench_cleanup_extra() {
    [[ -f "$WORK/cluster/ports" ]] && scripts/redis-cluster.sh stop "$WORK/cluster" >/dev/null
}
bench_prepare cluster-bench
CLUSTER_NODES=$(scripts/redis-cluster.sh start "$WORK/cluster")
log "redis cluster on $CLUSTER_NODES"

# The ports of the cluster's masters (those serving slots), as one node sees them.
cluster_masters() {
    local first=${CLUSTER_NODES%%,*}
    redis-cli -p "${first##*:}" cluster nodes | tr -d '\r' \
        | awk '$3 ~ /master/ && $3 !~ /fail/ && NF > 8 { split($2, a, "[:@]"); print a[2] }' | sort -n
}

stop_instance() {
    stop_pid "$1"
    wait "$1" 2>/dev/null || true
    local kept=() pid
    for pid in "${STARTED_PIDS[@]}"; do
        [[ "$pid" != "$1" ]] && kept+=("$pid")
    done
    STARTED_PIDS=("${kept[@]}")
}

CLK_TCK=$(getconf CLK_TCK)

# "CPU_SECONDS COMMANDS" of one Redis node: user + system CPU of the main thread and its
# children (INFO cpu), and every command it ran, those inside scripts included.
redis_node_stats() {
    local cpu calls
    cpu=$(redis-cli -p "$1" info cpu | tr -d '\r' \
        | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }')
    calls=$(redis-cli -p "$1" info commandstats | tr -d '\r' \
        | awk -F'[:=,]' '/^cmdstat_/ { n += $3 } END { print n + 0 }')
    echo "$cpu $calls"
}

# wrk_run NAME SCRIPT URL: runs wrk; sets REQUESTS, RPS, P50, P99 (ms), NON2XX and STATUSES
# (status:count,...).
wrk_run() {
    local name=$1 script=$2 url=$3 out line statuses item
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s \
        -s "$ROOT/bench/wrk/$script" "$url" >"$WORK/wrk-$name.out" 2>&1 \
        || { cat "$WORK/wrk-$name.out" >&2; die "wrk failed in $name"; }
    out=$(<"$WORK/wrk-$name.out")
    line=$(grep '^BENCH_RESULT ' <<<"$out" | head -n1)
    [[ -n "$line" ]] || { echo "$out" >&2; die "no result from wrk in $name"; }
    REQUESTS=$(kv requests "$line")
    RPS=$(awk -v r="$REQUESTS" -v us="$(kv duration_us "$line")" 'BEGIN { printf "%.0f", r / (us / 1e6) }')
    P50=$(awk -v v="$(kv p50_us "$line")" 'BEGIN { printf "%.2f", v / 1000 }')
    P99=$(awk -v v="$(kv p99_us "$line")" 'BEGIN { printf "%.2f", v / 1000 }')
    NON2XX=0
    statuses=$(kv statuses "$line")
    STATUSES=$statuses
    IFS=, read -ra items <<<"$statuses"
    for item in "${items[@]}"; do
        if [[ -n "$item" && "${item%%:*}" != 2?? ]]; then
            NON2XX=$((NON2XX + ${item#*:}))
        fi
    done
}

TYPES_16=$(for i in $(seq 0 15); do printf 'bench_t%d,' "$i"; done)
TYPES_16=${TYPES_16%,}
TYPES_1000=$(for i in $(seq 0 999); do printf 'bench_t%d,' "$i"; done)
TYPES_1000=${TYPES_1000%,}

# run NAME SCRIPT URL SERVICE_PID METRICS_PER_REQUEST REDIS_PORT...: one line of the table.
run() {
    local name=$1 script=$2 url=$3 api_pid=$4 per_request=$5
    shift 5
    local a0 a1 p before=() after=()
    a0=$(cpu_ticks "$api_pid")
    for p in "$@"; do before+=("$(redis_node_stats "$p")"); done
    wrk_run "$name" "$script" "$url"
    a1=$(cpu_ticks "$api_pid")
    for p in "$@"; do after+=("$(redis_node_stats "$p")"); done
    local redis_cpu=0 i
    for i in "${!before[@]}"; do
        redis_cpu=$(awk -v a="${before[$i]% *}" -v b="${after[$i]% *}" -v t="$redis_cpu" \
            'BEGIN { printf "%.6f", t + b - a }')
    done
    awk -v n="$name" -v req="$REQUESTS" -v rps="$RPS" -v p50="$P50" -v p99="$P99" \
        -v bad="$NON2XX" -v tck="$CLK_TCK" -v a="$((a1 - a0))" -v r="$redis_cpu" \
        -v m="$per_request" -v st="$STATUSES" 'BEGIN {
            q = req > 0 ? req : 1
            printf "%-32s %8d %7.2f %7.2f %7d %9.1f %12.2f %s\n", n, rps, p50, p99, bad,
                a * 1e6 / tck / q, r * 1e6 / (q * m), st
        }'
}

# share NAME TYPES SERVICE_PORT: each master's share of an ingest run's Redis CPU and commands.
share() {
    local name=$1 types=$2 port=$3 p before=() after=() i
    local masters
    masters=$(cluster_masters)
    for p in $masters; do before+=("$(redis_node_stats "$p")"); done
    BENCH_INGEST_TYPES=$types wrk_run "$name" ingest.lua "http://127.0.0.1:$port/api/metrics"
    for p in $masters; do after+=("$(redis_node_stats "$p")"); done
    local cpu=() calls=() total_cpu=0 total_calls=0
    i=0
    for p in $masters; do
        cpu+=("$(awk -v a="${before[$i]% *}" -v b="${after[$i]% *}" 'BEGIN { printf "%.6f", b - a }')")
        calls+=("$(( ${after[$i]#* } - ${before[$i]#* } ))")
        total_cpu=$(awk -v t="$total_cpu" -v c="${cpu[$i]}" 'BEGIN { printf "%.6f", t + c }')
        total_calls=$((total_calls + calls[i]))
        i=$((i + 1))
    done
    local line="" n
    n=$(wc -w <<<"$masters")
    i=0
    for p in $masters; do
        line+=$(awk -v p="$p" -v c="${cpu[$i]}" -v tc="$total_cpu" -v k="${calls[$i]}" \
            -v tk="$total_calls" -v n="$n" 'BEGIN {
                printf " %s: cpu %.0f%% (%+.0f%% of even), commands %.0f%% (%+.0f%%);", p,
                    100 * c / tc, 100 * (c / tc * n - 1), 100 * k / tk, 100 * (k / tk * n - 1)
            }')
        i=$((i + 1))
    done
    printf '%-20s %6d req/s (%s);%s\n' "$name" "$RPS" "$STATUSES" "$line"
}

if [[ "$PARTS" == *" throughput "* ]]; then
    printf '%-32s %8s %7s %7s %7s %9s %12s %s\n' run "req/s" "p50 ms" "p99 ms" "non-2xx" \
        "api us" "redis us" statuses
    echo "(api us: the service's CPU microseconds per request; redis us: Redis CPU microseconds" \
        "per metric stored, or per request for reads, summed over every master)"
    masters=$(cluster_masters)
    start_instance single REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT"
    S_PID=$SVC_PID S_PORT=$SVC_PORT
    start_instance cluster REDIS_CLUSTER_NODES="$CLUSTER_NODES"
    C_PID=$SVC_PID C_PORT=$SVC_PORT
    # The data every read run reads: one type's points, and its summary cached.
    for port in "$S_PORT" "$C_PORT"; do
        BENCH_INGEST_TYPES=bench_read DURATION=1 wrk_run "seed-$port" ingest.lua \
            "http://127.0.0.1:$port/api/metrics"
        curl -fsS -o /dev/null "http://127.0.0.1:$port/api/metrics/summary?type=bench_read"
    done
    # Alternating runs, so that a neighbour's load on the shared cores hits both alike.
    export BENCH_INGEST_TYPES=$TYPES_16 BENCH_BATCH_TYPES=16 BENCH_BATCH_SIZE=100
    for mode in single cluster; do
        if [[ $mode == single ]]; then pid=$S_PID port=$S_PORT nodes=$REDIS_PORT; else
            pid=$C_PID port=$C_PORT nodes=$masters; fi
        # shellcheck disable=SC2086
        run "ingest, $mode" ingest.lua "http://127.0.0.1:$port/api/metrics" "$pid" 1 $nodes
    done
    for mode in single cluster; do
        if [[ $mode == single ]]; then pid=$S_PID port=$S_PORT nodes=$REDIS_PORT; else
            pid=$C_PID port=$C_PORT nodes=$masters; fi
        # shellcheck disable=SC2086
        run "batch of 100, $mode" ingest_batch.lua "http://127.0.0.1:$port/api/metrics/batch" \
            "$pid" 100 $nodes
    done
    for mode in single cluster; do
        if [[ $mode == single ]]; then pid=$S_PID port=$S_PORT nodes=$REDIS_PORT; else
            pid=$C_PID port=$C_PORT nodes=$masters; fi
        # shellcheck disable=SC2086
        run "list of 100, $mode" get.lua \
            "http://127.0.0.1:$port/api/metrics/list?type=bench_read&limit=100" "$pid" 1 $nodes
    done
    for mode in single cluster; do
        if [[ $mode == single ]]; then pid=$S_PID port=$S_PORT nodes=$REDIS_PORT; else
            pid=$C_PID port=$C_PORT nodes=$masters; fi
        # shellcheck disable=SC2086
        run "cached summary, $mode" get.lua \
            "http://127.0.0.1:$port/api/metrics/summary?type=bench_read" "$pid" 1 $nodes
    done
    unset BENCH_INGEST_TYPES BENCH_BATCH_TYPES BENCH_BATCH_SIZE
    stop_instance "$S_PID"
    stop_instance "$C_PID"
fi

if [[ "$PARTS" == *" share "* ]]; then
    start_instance share REDIS_CLUSTER_NODES="$CLUSTER_NODES" RATE_LIMIT_ENABLED=false
    share "ingest, 16 types" "$TYPES_16" "$SVC_PORT"
    share "ingest, 1000 types" "$TYPES_1000" "$SVC_PORT"
    stop_instance "$SVC_PID"
fi
