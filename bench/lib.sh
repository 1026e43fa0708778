# Shell helpers shared by the bench scripts (sourced, after scripts/lib.sh).

# bench_prepare NAME: what a bench script that starts its own services does first. Defines
# log and die (lines prefixed "NAME: "), builds $BUILD_DIR's analytics-api when $API_BIN is
# missing, checks for wrk, makes $WORK and arranges for everything in STARTED_PIDS, the
# redis-server in REDIS_PID and whatever bench_cleanup_extra (if the script defines one) does
# to be stopped however the script ends. Then starts that redis-server (AOF, fsync every second).
bench_prepare() {
    BENCH_NAME=$1
    log() { echo "$BENCH_NAME: $*" >&2; }
    die() {
        log "$*"
        exit 1
    }
    if [[ ! -x "$API_BIN" ]]; then
        log "building $BUILD_DIR"
        cmake --preset release -B "$BUILD_DIR" >/dev/null
        cmake --build "$BUILD_DIR" --target analytics-api
    fi
    command -v wrk >/dev/null || die "wrk is not installed (scripts/install-deps.sh)"
    WORK=$(mktemp -d "/tmp/$BENCH_NAME.XXXXXX")
    STARTED_PIDS=()
    trap bench_cleanup EXIT
    start_private_redis "$WORK/redis" --appendonly yes --appendfsync everysec
    log "redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT"
}

bench_cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    [[ -n "${REDIS_PID:-}" ]] && stop_pid "$REDIS_PID"
    if declare -F bench_cleanup_extra >/dev/null; then
        bench_cleanup_extra || true
    fi
    rm -rf "$WORK"
}

# cpu_ticks PID...: user+system clock ticks of the processes (all their threads, living or not).
cpu_ticks() {
    local total=0 pid line rest
    local -a f
    for pid in "$@"; do
        read -r line <"/proc/$pid/stat" || continue
        rest=${line##*) }
        read -ra f <<<"$rest"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# kv KEY LINE: the value of KEY=... in a BENCH_RESULT line (bench/wrk/report.lua).
kv() {
    local re="(^| )$1=([^ ]*)"
    [[ "$2" =~ $re ]] && echo "${BASH_REMATCH[2]}"
}

# start_instance NAME VAR=VALUE...: the service ($API_BIN) in $WORK/NAME on a free loopback
# port, with APP_THREADS=$APP_THREADS, rate limiting out of the way, the simulated upstream
# never failing, and the given variables (which say where Redis is); returns once /health
# reports every Redis node connected. Sets SVC_PID and SVC_PORT and appends the PID to
# STARTED_PIDS (the caller stops them).
start_instance() {
    local name=$1 dir=$WORK/$1 port="" i
    shift
    mkdir -p "$dir"
    (cd "$dir" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" \
        APP_HOST=127.0.0.1 APP_PORT=0 APP_THREADS="$APP_THREADS" LOG_LEVEL=WARNING \
        INSTANCE_ID="$name" RATE_LIMIT_REQUESTS=1000000000 CACHE_TTL_SECONDS=3600 \
        EXTERNAL_SERVICE_FAILURE_RATE=0 EXTERNAL_SERVICE_LATENCY_MS=0 \
        "$@" "$API_BIN" >"$dir/service.log" 2>&1) &
    SVC_PID=$!
    STARTED_PIDS+=("$SVC_PID")
    for i in $(seq 1 300); do
        kill -0 "$SVC_PID" 2>/dev/null || { cat "$dir/service.log" >&2; die "$name exited"; }
        [[ -n "$port" ]] || port=$(listening_port "$SVC_PID" || true)
        if [[ -n "$port" && $(curl -s --max-time 2 "http://127.0.0.1:$port/health") == *'"redis_connected":true'* ]]; then
            SVC_PORT=$port
            return 0
        fi
        sleep 0.05
    done
    die "$name did not connect to Redis"
}
