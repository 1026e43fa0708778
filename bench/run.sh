#!/usr/bin/env bash
# bench/run.sh: the reproducible benchmark (see bench/README.md).
#
# Builds the release preset with the benchmarks (build/bench), runs the Google Benchmark of the hot
# functions, then starts a private redis-server, nginx serving a small static JSON file (the
# machine's HTTP ceiling) and the service, all on 127.0.0.1, and drives them with wrk for a fixed
# time per scenario. Finally it holds 10,000 keep-alive connections open against the service.
# Prints a table and writes a JSON file (path printed at the end). Stops everything it started,
# by PID, whatever happens.
#
# Settings (environment):
#   BENCH_DURATION=10         seconds per wrk scenario
#   BENCH_CONNECTIONS=64      wrk connections
#   BENCH_SATURATED_CONNECTIONS=256   wrk connections of nginx_saturated and ingest_saturated
#   BENCH_THREADS=2           wrk threads
#   BENCH_APP_THREADS=nproc   APP_THREADS of the service, and nginx's worker_processes
#   BENCH_HOLD_CONNECTIONS=10000   connections held open by the last scenario
#   BENCH_HOLD_PATH=/health   what each held connection requests
#   BENCH_WRK_HOOK=1          0: no Lua response hook (cheaper client; statuses and X-Cache unchecked)
#   BENCH_SCENARIOS="nginx health ingest ingest_idempotent ingest_batch list summary_hit summary_miss ingest_refused nginx_saturated ingest_saturated telemetry connections"
#   BENCH_BATCH_SIZE=100      metrics per request of ingest_batch (10 types)
#   BENCH_TELEMETRY_ROUNDS=4  rounds of the telemetry scenario (each: 5 s on, 5 s off)
#   BENCH_REDIS_AOF=everysec  appendfsync of the private Redis (as in production); "no": AOF off
#   BENCH_REDIS_TLS=0         1: the service reaches Redis over TLS (a test CA made with openssl;
#                             Redis's plain port then serves only this script's INFO reads)
#   BENCH_GBENCH=1            0: skip the Google Benchmark
#   BENCH_GBENCH_MIN_TIME=0.05
#   BENCH_BUILD=1             0: use the binaries already in BENCH_BUILD_DIR
#   BENCH_BUILD_DIR=build/bench
#   BENCH_OUTPUT=<dir>/results-<UTC date>.json
#   BENCH_KEEP_WORKDIR=0      1: keep the temp dir with the logs and configs
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
# shellcheck source=bench/lib.sh
source bench/lib.sh

DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
SATURATED_CONNECTIONS=${BENCH_SATURATED_CONNECTIONS:-256}
WRK_THREADS=${BENCH_THREADS:-2}
WRK_HOOK=${BENCH_WRK_HOOK:-1}
APP_THREADS=${BENCH_APP_THREADS:-$(nproc)}
HOLD_CONNECTIONS=${BENCH_HOLD_CONNECTIONS:-10000}
HOLD_PATH=${BENCH_HOLD_PATH:-/health}
SCENARIOS=" ${BENCH_SCENARIOS:-nginx health ingest ingest_idempotent ingest_batch list summary_hit summary_miss ingest_refused nginx_saturated ingest_saturated telemetry connections} "
TELEMETRY_ROUNDS=${BENCH_TELEMETRY_ROUNDS:-4}
REDIS_AOF=${BENCH_REDIS_AOF:-everysec}
REDIS_TLS=${BENCH_REDIS_TLS:-0}
BUILD_DIR=${BENCH_BUILD_DIR:-build/bench}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUTPUT=${BENCH_OUTPUT:-$BUILD_DIR/results-$STAMP.json}
SERVICE_LOG_LEVEL=WARNING
SUMMARY_TYPE=bench_cpu
BATCH_SIZE=${BENCH_BATCH_SIZE:-100}
export BENCH_BATCH_SIZE=$BATCH_SIZE
CLK_TCK=$(getconf CLK_TCK)

wants() { [[ "$SCENARIOS" == *" $1 "* ]]; }
log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# --- dependencies and build --------------------------------------------------------------------
scripts/install-deps.sh
command -v wrk >/dev/null || die "wrk is missing (scripts/install-deps.sh should install it)"
HAVE_NGINX=1
if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    HAVE_NGINX=0
    log "WARNING: nginx is not installed (apt-get install nginx): no HTTP ceiling, no ratios"
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)

if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
    log "building the release preset with benchmarks in $BUILD_DIR"
    mkdir -p "$BUILD_DIR"
    cmake --preset release -B "$BUILD_DIR" -DANALYTICS_BENCH=ON >"$BUILD_DIR/bench-configure.log" 2>&1 \
        || { cat "$BUILD_DIR/bench-configure.log" >&2; die "cmake configure failed"; }
    cmake --build "$BUILD_DIR" --target analytics-api analytics_bench hold_connections \
        >"$BUILD_DIR/bench-build.log" 2>&1 \
        || { tail -n 60 "$BUILD_DIR/bench-build.log" >&2; die "build failed (full log: $BUILD_DIR/bench-build.log)"; }
fi
# The telemetry scenario compares the service with a build whose metric recording is compiled
# out (ANALYTICS_TELEMETRY=OFF), in its own build directory beside the first.
QUIET_BUILD_DIR=$BUILD_DIR-no-telemetry
if [[ "${BENCH_BUILD:-1}" == 1 ]] && wants telemetry; then
    log "building analytics-api without metric recording in $QUIET_BUILD_DIR"
    mkdir -p "$QUIET_BUILD_DIR"
    cmake --preset release -B "$QUIET_BUILD_DIR" -DANALYTICS_TELEMETRY=OFF -DANALYTICS_TESTS=OFF \
        >"$QUIET_BUILD_DIR/bench-configure.log" 2>&1 \
        || { cat "$QUIET_BUILD_DIR/bench-configure.log" >&2; die "cmake configure failed"; }
    cmake --build "$QUIET_BUILD_DIR" --target analytics-api >"$QUIET_BUILD_DIR/bench-build.log" 2>&1 \
        || { tail -n 60 "$QUIET_BUILD_DIR/bench-build.log" >&2; die "build failed (full log: $QUIET_BUILD_DIR/bench-build.log)"; }
fi
API_BIN=$ROOT/$BUILD_DIR/analytics-api
QUIET_API_BIN=$ROOT/$QUIET_BUILD_DIR/analytics-api
if wants telemetry && [[ ! -x "$QUIET_API_BIN" ]]; then
    die "missing $QUIET_API_BIN (run without BENCH_BUILD=0)"
fi
GBENCH_BIN=$ROOT/$BUILD_DIR/bench/analytics_bench
HOLD_BIN=$ROOT/$BUILD_DIR/bench/hold_connections
needed_bins=("$API_BIN")
[[ "${BENCH_GBENCH:-1}" == 1 ]] && needed_bins+=("$GBENCH_BIN")
wants connections && needed_bins+=("$HOLD_BIN")
for b in "${needed_bins[@]}"; do
    [[ -x "$b" ]] || die "missing $b (run without BENCH_BUILD=0)"
done
mkdir -p "$(dirname "$OUTPUT")"
OUTPUT=$(cd "$(dirname "$OUTPUT")" && pwd)/$(basename "$OUTPUT")

# Ten thousand sockets in the service and as many in the client: take the whole hard limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# --- processes we start, and their clean-up ----------------------------------------------------
WORK=$(mktemp -d /tmp/analytics-bench.XXXXXX)
chmod 755 "$WORK"  # nginx workers run as nobody and must read the JSON file
STARTED_PIDS=()
RUN_OK=0
CLIENT_PID=  # the wrk or hold_connections run in progress
cleanup() {
    local i
    if [[ -n "$CLIENT_PID" ]]; then
        kill "$CLIENT_PID" 2>/dev/null || true
        wait "$CLIENT_PID" 2>/dev/null || true
    fi
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${STARTED_PIDS[i]}"
        wait "${STARTED_PIDS[i]}" 2>/dev/null || true
    done
    if [[ "$RUN_OK" == 1 && "${BENCH_KEEP_WORKDIR:-0}" != 1 ]]; then
        rm -rf "$WORK"
    else
        log "logs and configs kept in $WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- /proc helpers -----------------------------------------------------------------------------
# child_ticks: user+system clock ticks of this shell's waited-for children (wrk's CPU time is
# the difference around one wrk run).
child_ticks() {
    local line rest
    local -a f
    read -r line <"/proc/$$/stat"
    rest=${line##*) }
    read -ra f <<<"$rest"
    echo $((f[13] + f[14]))
}
# cpu_idle_total: "IDLE TOTAL" clock ticks of the whole machine (idle + iowait, all fields).
cpu_idle_total() {
    local user nice system idle iowait irq softirq steal rest
    read -r _ user nice system idle iowait irq softirq steal rest </proc/stat
    echo "$((idle + iowait)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}
# status_kb PID FIELD: VmRSS / VmHWM of a process, in kB.
status_kb() {
    awk -v f="$2:" '$1 == f { print $2; found = 1 } END { if (!found) print 0 }' "/proc/$1/status"
}
# sum_status_kb FIELD PID...
sum_status_kb() {
    local field=$1 total=0 pid
    shift
    for pid in "$@"; do
        total=$((total + $(status_kb "$pid" "$field")))
    done
    echo "$total"
}
# redis_calls: "command calls" per line from INFO commandstats (commands run by scripts included).
redis_calls() {
    redis-cli -p "$REDIS_PORT" info commandstats 2>/dev/null | tr -d '\r' \
        | sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),.*/\1 \2/p'
}
# redis_calls_per_request BEFORE AFTER REQUESTS: "evalsha:1.000,get:0.500", most frequent first.
redis_calls_per_request() {
    awk -v req="$3" 'NR == FNR { before[$1] = $2; next }
        { d = $2 - before[$1]; if (req > 0 && d / req >= 0.0005) printf "%s %.3f\n", $1, d / req }' \
        <(echo "$1") <(echo "$2") | sort -k2,2 -gr | awk '{ printf "%s%s:%s", sep, $1, $2; sep = "," }'
}

# --- servers -----------------------------------------------------------------------------------
start_redis() {
    local args=()
    if [[ "$REDIS_AOF" != no ]]; then
        args=(--appendonly yes --appendfsync "$REDIS_AOF")
    fi
    start_private_redis "$WORK/redis" "${args[@]}"
    STARTED_PIDS+=("$REDIS_PID")
    log "redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT (AOF: $REDIS_AOF)"
    if [[ "$REDIS_TLS" == 1 ]]; then
        start_redis_tls
    fi
}

# The service's Redis settings beyond REDIS_HOST/REDIS_PORT (start_redis_tls sets them).
SERVICE_REDIS_ENV=()

# start_redis_tls: a CA and a server certificate for 127.0.0.1 made with openssl, and a TLS port
# opened on the running Redis (CONFIG SET), which the service then uses.
start_redis_tls() {
    local dir=$WORK/tls tls_port
    mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
            -subj '/CN=bench CA' -keyout ca.key -out ca.pem
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -subj '/CN=redis' -keyout redis.key -out redis.csr
        printf 'subjectAltName=IP:127.0.0.1\n' >redis.ext
        openssl x509 -req -in redis.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
            -extfile redis.ext -out redis.pem
    ) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; die "openssl failed"; }
    tls_port=$(( REDIS_PORT + 1 ))
    redis-cli -p "$REDIS_PORT" config set tls-cert-file "$dir/redis.pem" tls-key-file "$dir/redis.key" \
        tls-ca-cert-file "$dir/ca.pem" tls-auth-clients no >/dev/null
    [[ $(redis-cli -p "$REDIS_PORT" config set tls-port "$tls_port") == OK ]] \
        || die "could not open a TLS port on Redis"
    SERVICE_REDIS_ENV=(REDIS_PORT="$tls_port" REDIS_TLS=true REDIS_TLS_CA_FILE="$dir/ca.pem")
    log "redis-server TLS on 127.0.0.1:$tls_port (the service's port)"
}

NGINX_PID=
NGINX_PORT=
STATIC_BODY='{"type":"cpu_usage","period":"all","count":2,"average_value":68.15,"min_value":60.5,"max_value":75.8,"latest_value":75.8}'
start_nginx() {
    local dir=$WORK/nginx port i user_line=""
    mkdir -p "$dir/www" "$dir/tmp"
    chmod -R 755 "$dir"
    printf '%s' "$STATIC_BODY" >"$dir/www/summary.json"
    chmod 644 "$dir/www/summary.json"
    if [[ $(id -u) -eq 0 ]]; then
        user_line="user nobody nogroup;"
    fi
    for _ in $(seq 1 20); do
        port=$(((RANDOM % 30000) + 20000))
        cat >"$dir/nginx.conf" <<EOF
# The HTTP ceiling: a static ~100-byte JSON file, the same shape and size as a summary body.
$user_line
daemon off;
master_process on;
worker_processes $APP_THREADS;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    open_file_cache max=16 inactive=60s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port reuseport;
        root $dir/www;
        location = /summary.json {
            default_type "application/json; charset=utf-8";
        }
    }
}
EOF
        "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
        NGINX_PID=$!
        for i in $(seq 1 100); do
            if [[ $(http_status "http://127.0.0.1:$port/summary.json") == 200 ]]; then
                NGINX_PORT=$port
                STARTED_PIDS+=("$NGINX_PID")
                log "nginx pid $NGINX_PID on 127.0.0.1:$NGINX_PORT ($APP_THREADS workers)"
                return 0
            fi
            kill -0 "$NGINX_PID" 2>/dev/null || break
            sleep 0.05
        done
        stop_pid "$NGINX_PID"
        wait "$NGINX_PID" 2>/dev/null || true
    done
    cat "$dir/error.log" >&2 || true
    die "could not start nginx (see $dir)"
}

# start_service NAME VAR=VALUE...: starts analytics-api in $WORK/NAME (no .env there) with a clean
# environment, waits for /ready 200. Sets SVC_PID and SVC_PORT. SVC_BIN picks another binary.
start_service() {
    local name=$1 dir=$WORK/$1 i port="" bin=${SVC_BIN:-$API_BIN}
    shift
    mkdir -p "$dir"
    (cd "$dir" && exec env -i PATH="$PATH" HOME="${HOME:-/root}" \
        APP_HOST=127.0.0.1 APP_PORT=0 APP_THREADS="$APP_THREADS" LOG_LEVEL="$SERVICE_LOG_LEVEL" \
        REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" ${SERVICE_REDIS_ENV[@]+"${SERVICE_REDIS_ENV[@]}"} \
        EXTERNAL_SERVICE_FAILURE_RATE=0 EXTERNAL_SERVICE_LATENCY_MS=0 \
        "$@" "$bin" >"$dir/service.log" 2>&1) &
    SVC_PID=$!
    STARTED_PIDS+=("$SVC_PID")
    for i in $(seq 1 300); do
        kill -0 "$SVC_PID" 2>/dev/null || { cat "$dir/service.log" >&2; die "$name exited at start-up"; }
        if [[ -z "$port" ]]; then
            port=$(listening_port "$SVC_PID" || true)
        fi
        if [[ -n "$port" && $(http_status "http://127.0.0.1:$port/ready") == 200 ]]; then
            SVC_PORT=$port
            log "$name: analytics-api pid $SVC_PID on 127.0.0.1:$SVC_PORT, APP_THREADS=$APP_THREADS, LOG_LEVEL=$SERVICE_LOG_LEVEL"
            return 0
        fi
        sleep 0.05
    done
    cat "$dir/service.log" >&2
    die "$name did not become ready within 15 s"
}

# --- scenarios ---------------------------------------------------------------------------------
SCENARIO_JSON=()  # one JSON object per scenario
FAILED_CHECKS=()
TABLE_ROWS=()
NGINX_RPS=
NGINX_CPU_US=
NGINX_SATURATED_RPS=

count_of() { # count_of KEY "200:5,429:7" -> 5
    local item
    IFS=, read -ra items <<<"$2"
    for item in "${items[@]}"; do
        [[ "${item%%:*}" == "$1" ]] && { echo "${item#*:}"; return; }
    done
    echo 0
}
map_to_json() { # "200:5,429:7" -> {"200":5,"429":7}
    local out="" item
    IFS=, read -ra items <<<"$1"
    for item in "${items[@]}"; do
        [[ -n "$item" ]] && out+="${out:+,}\"${item%%:*}\":${item#*:}"
    done
    echo "{$out}"
}
calc() { awk "BEGIN { $1 }"; }

# run_scenario NAME SCRIPT URL EXPECTED_STATUSES SERVER_PIDS...
#   EXPECTED_STATUSES: statuses that are not errors here, e.g. "200" or "201 429"; checks
#   particular to a scenario (X-Cache, the share of 429s) are made by NAME below
#   SERVER_PIDS: the serving processes whose CPU time and memory are measured (nginx: master and
#   workers; the service: its one process). Redis CPU is measured whenever Redis runs.
run_scenario() {
    local name=$1 script=$2 url=$3 expected=$4
    shift 4
    local pids=("$@") out line
    local svc0 svc1 red0=0 red1=0 wrk0 wrk1 idle0 total0 idle1 total1
    local conns=$CONNECTIONS
    [[ "$name" == *_saturated ]] && conns=$SATURATED_CONNECTIONS
    log "scenario $name: wrk -t$WRK_THREADS -c$conns -d${DURATION}s $url"
    svc0=$(cpu_ticks "${pids[@]}")
    [[ -n "${REDIS_PID:-}" ]] && red0=$(cpu_ticks "$REDIS_PID")
    wrk0=$(child_ticks)
    read -r idle0 total0 <<<"$(cpu_idle_total)"
    local calls0="" calls1=""
    [[ -n "${REDIS_PORT:-}" ]] && calls0=$(redis_calls)
    # In the background and waited for, so that a signal to this script is handled at once.
    BENCH_WRK_HOOK="$WRK_HOOK" wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION}s" \
        --timeout 10s -s "$ROOT/bench/wrk/$script" "$url" >"$WORK/wrk-$name.out" 2>&1 &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || { cat "$WORK/wrk-$name.out" >&2; die "wrk failed in $name"; }
    CLIENT_PID=
    out=$(<"$WORK/wrk-$name.out")
    local pid
    for pid in "${pids[@]}" ${REDIS_PID:+"$REDIS_PID"}; do
        kill -0 "$pid" 2>/dev/null || die "process $pid exited during $name (logs in $WORK)"
    done
    svc1=$(cpu_ticks "${pids[@]}")
    [[ -n "${REDIS_PID:-}" ]] && red1=$(cpu_ticks "$REDIS_PID")
    wrk1=$(child_ticks)
    read -r idle1 total1 <<<"$(cpu_idle_total)"
    [[ -n "${REDIS_PORT:-}" ]] && calls1=$(redis_calls)
    line=$(grep '^BENCH_RESULT ' <<<"$out" | head -n1)
    [[ -n "$line" ]] || { echo "$out" >&2; die "no result line from wrk in $name"; }

    local requests duration_us statuses x_cache sock_connect sock_read sock_write sock_timeout
    requests=$(kv requests "$line")
    duration_us=$(kv duration_us "$line")
    statuses=$(kv statuses "$line")
    x_cache=$(kv x_cache "$line")
    sock_connect=$(kv connect "$line"); sock_read=$(kv read "$line")
    sock_write=$(kv write "$line"); sock_timeout=$(kv timeout "$line")
    local p50 p90 p99 max mean
    p50=$(kv p50_us "$line"); p90=$(kv p90_us "$line"); p99=$(kv p99_us "$line")
    max=$(kv max_us "$line"); mean=$(kv mean_us "$line")

    # Non-2xx responses, and those not expected here (the refused scenario expects 429).
    local non2xx=0 unexpected=0 item code n
    IFS=, read -ra items <<<"$statuses"
    for item in "${items[@]}"; do
        [[ -n "$item" ]] || continue
        code=${item%%:*}; n=${item#*:}
        [[ "$code" == 2?? ]] || non2xx=$((non2xx + n))
        [[ " $expected " == *" $code "* ]] || unexpected=$((unexpected + n))
    done
    local sock_errors=$((sock_connect + sock_read + sock_write + sock_timeout))
    if [[ "$WRK_HOOK" == 0 ]]; then
        # No per-status counts: wrk's own count of statuses >= 400 is all there is.
        non2xx=$(kv status_errors "$line")
        [[ " $expected " == *" 429 "* ]] || unexpected=$non2xx
    fi

    local rps svc_us redis_us rss_kb hwm_kb ratio="null" ratio_txt="n/a"
    rps=$(calc "printf \"%.1f\", $requests / ($duration_us / 1e6)")
    svc_us=$(calc "printf \"%.2f\", ($svc1 - $svc0) * 1e6 / $CLK_TCK / ($requests > 0 ? $requests : 1)")
    redis_us="null"
    if [[ -n "${REDIS_PID:-}" && "$name" != nginx* ]]; then
        redis_us=$(calc "printf \"%.2f\", ($red1 - $red0) * 1e6 / $CLK_TCK / ($requests > 0 ? $requests : 1)")
    fi
    local redis_per_req="" wrk_us
    [[ "$name" != nginx* ]] && redis_per_req=$(redis_calls_per_request "$calls0" "$calls1" "$requests")
    wrk_us=$(calc "printf \"%.2f\", ($wrk1 - $wrk0) * 1e6 / $CLK_TCK / ($requests > 0 ? $requests : 1)")
    rss_kb=$(sum_status_kb VmRSS "${pids[@]}")
    hwm_kb=$(sum_status_kb VmHWM "${pids[@]}")
    if [[ "$name" == nginx ]]; then
        NGINX_RPS=$rps
        NGINX_CPU_US=$svc_us
    elif [[ "$name" == nginx_saturated ]]; then
        NGINX_SATURATED_RPS=$rps
    fi
    # A *_saturated row is compared with nginx at the same connection count.
    local ceiling=$NGINX_RPS
    [[ "$name" == *_saturated ]] && ceiling=$NGINX_SATURATED_RPS
    if [[ -n "$ceiling" ]]; then
        ratio=$(calc "printf \"%.3f\", $rps / $ceiling")
        ratio_txt=$(calc "printf \"%.0f%%\", 100 * $rps / $ceiling")
    fi
    # The share of the machine's CPU time nobody used: near 0 when the scenario is bound by the
    # cores, well above when it is bound by the latency of its connections' round trips.
    local idle_share
    idle_share=$(calc "printf \"%.3f\", ($total1 > $total0) ? ($idle1 - $idle0) / ($total1 - $total0) : 0")

    # The scenario's own check, shown in the last column.
    local note="" ok=true
    case "$name" in
        summary_hit)
            local hits
            hits=$(count_of HIT "$x_cache")
            note="X-Cache HIT $hits/$requests"
            [[ "$hits" == "$requests" ]] || ok=false
            ;;
        summary_miss)
            note="X-Cache MISS $(count_of MISS "$x_cache")/$requests"
            [[ "$(count_of MISS "$x_cache")" == "$requests" ]] || ok=false
            ;;
        ingest_refused)
            # RATE_LIMIT_REQUESTS=1: all but (about) the first request must be refused.
            local refused
            refused=$(count_of 429 "$statuses")
            note="429 $refused/$requests"
            ((refused * 100 >= requests * 99)) || ok=false
            ;;
        ingest | ingest_idempotent | ingest_saturated)
            note="201 $(count_of 201 "$statuses")/$requests"
            ;;
        ingest_batch)
            # Per metric: each request carries BATCH_SIZE of them.
            note="201 $(count_of 201 "$statuses")/$requests; $(calc "printf \"%.0f\", $rps * $BATCH_SIZE") metrics/s, $(calc "printf \"%.2f\", $svc_us / $BATCH_SIZE") us service + $(calc "printf \"%.2f\", ${redis_us/null/0} / $BATCH_SIZE") us Redis per metric"
            ;;
        list)
            note="$LIST_ITEMS items"
            ((LIST_ITEMS == 100)) || ok=false
            ;;
    esac
    if ((unexpected > 0 || sock_errors > 0)); then
        ok=false
    fi
    if [[ "$WRK_HOOK" == 0 && -n "$note" ]]; then
        note="unchecked (BENCH_WRK_HOOK=0)"
        ok=true
        if ((unexpected > 0 || sock_errors > 0)); then ok=false; fi
    fi
    if [[ "$ok" != true ]]; then
        note="${note:+$note; }CHECK FAILED"
        FAILED_CHECKS+=("$name")
    fi

    local ms="printf \"%.2f\","
    TABLE_ROWS+=("$(printf '%-17s %5s %9s %8s %8s %8s %8s %7s %6s %5s %9s %9s %8s  %s' \
        "$name" "$conns" "$(calc "printf \"%.0f\", $rps")" \
        "$(calc "$ms $p50 / 1000")" "$(calc "$ms $p99 / 1000")" "$(calc "$ms $max / 1000")" \
        "$non2xx" "$((unexpected + sock_errors))" "$ratio_txt" \
        "$(calc "printf \"%.0f%%\", 100 * $idle_share")" "$svc_us" \
        "$([[ "$redis_us" == null ]] && echo - || echo "$redis_us")" \
        "$(calc "printf \"%.1f\", $hwm_kb / 1024")" "$note")")
    SCENARIO_JSON+=("$(printf '{"name":"%s","url":"%s","connections":%s,"requests":%s,"duration_s":%s,"rps":%s,"latency_us":{"p50":%s,"p90":%s,"p99":%s,"max":%s,"mean":%s},"statuses":%s,"x_cache":%s,"non_2xx":%s,"unexpected":%s,"socket_errors":{"connect":%s,"read":%s,"write":%s,"timeout":%s},"ratio_to_nginx":%s,"machine_idle_share":%s,"server_cpu_us_per_request":%s,"redis_cpu_us_per_request":%s,"redis_calls_per_request":%s,"wrk_cpu_us_per_request":%s,"server_rss_kb":%s,"server_peak_rss_kb":%s,"check_ok":%s,"note":"%s"}' \
        "$name" "$url" "$conns" "$requests" "$(calc "printf \"%.3f\", $duration_us / 1e6")" "$rps" \
        "$p50" "$p90" "$p99" "$max" "$mean" "$(map_to_json "$statuses")" "$(map_to_json "$x_cache")" \
        "$non2xx" "$unexpected" "$sock_connect" "$sock_read" "$sock_write" "$sock_timeout" \
        "$ratio" "$idle_share" "$svc_us" "$redis_us" "$(map_to_json "$redis_per_req")" "$wrk_us" "$rss_kb" "$hwm_kb" "$ok" "$note")")
    log "  $rps req/s, p99 $(calc "$ms $p99 / 1000") ms, statuses $statuses${x_cache:+, X-Cache $x_cache}${redis_per_req:+, Redis calls per request $redis_per_req}"
}

# --- run ---------------------------------------------------------------------------------------
GBENCH_JSON="null"
if [[ "${BENCH_GBENCH:-1}" == 1 ]]; then
    log "Google Benchmark (ns per call, min time ${BENCH_GBENCH_MIN_TIME:-0.05} s each)"
    gbench_csv=$WORK/gbench.csv
    "$GBENCH_BIN" --benchmark_min_time="${BENCH_GBENCH_MIN_TIME:-0.05}" \
        --benchmark_out="$gbench_csv" --benchmark_out_format=csv 2>&1 | grep -v '^\*\*\*WARNING' >&2
    # CSV columns: name,iterations,real_time,cpu_time,time_unit,...
    GBENCH_JSON=$(awk -F, 'started && NF > 4 {
            gsub(/"/, "", $1); printf "%s\"%s\":{\"real_ns\":%.2f,\"cpu_ns\":%.2f}", sep, $1, $3, $4; sep = "," }
        /^name,/ { started = 1 }' "$gbench_csv")
    GBENCH_JSON="{$GBENCH_JSON}"
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
start_redis
if [[ "$HAVE_NGINX" == 1 ]] && { wants nginx || wants nginx_saturated; }; then
    start_nginx
    mapfile -t nginx_workers < <(pgrep -P "$NGINX_PID" || true)
fi
start_service main \
    RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW_SECONDS=60 CACHE_TTL_SECONDS=3600
MAIN_PID=$SVC_PID
MAIN_PORT=$SVC_PORT
MAIN_URL=http://127.0.0.1:$MAIN_PORT
sleep 0.5
IDLE_RSS_KB=$(status_kb "$MAIN_PID" VmRSS)
log "idle RSS of the service: $((IDLE_RSS_KB / 1024)) MB"

# Some points for the list and the cached summary, whichever scenarios run.
seed_args=()
for i in $(seq 1 150); do
    ((i > 1)) && seed_args+=(--next)
    seed_args+=(-s -o /dev/null -H 'Content-Type: application/json' -X POST
        -d "{\"timestamp\":\"$(date -u -d "-$((i * 20)) seconds" +%Y-%m-%dT%H:%M:%SZ)\",\"value\":$i.5,\"type\":\"$SUMMARY_TYPE\"}"
        "$MAIN_URL/api/metrics")
done
curl "${seed_args[@]}" || die "seeding metrics failed"

LIST_URL="$MAIN_URL/api/metrics/list?type=$SUMMARY_TYPE&limit=100"
SUMMARY_URL="$MAIN_URL/api/metrics/summary?type=$SUMMARY_TYPE&period=all"

if [[ -n "$NGINX_PORT" ]] && wants nginx; then
    run_scenario nginx get.lua "http://127.0.0.1:$NGINX_PORT/summary.json" "200" \
        "$NGINX_PID" "${nginx_workers[@]}"
fi
wants health && run_scenario health get.lua "$MAIN_URL/health" "200" "$MAIN_PID"
wants ingest && run_scenario ingest ingest.lua "$MAIN_URL/api/metrics" "201" "$MAIN_PID"
# The same, every request with an Idempotency-Key of its own: what remembering the answer costs.
wants ingest_idempotent && BENCH_IDEMPOTENCY_KEYS=1 run_scenario ingest_idempotent ingest.lua \
    "$MAIN_URL/api/metrics" "201" "$MAIN_PID"
wants ingest_batch && BENCH_BATCH_SIZE=$BATCH_SIZE run_scenario ingest_batch ingest_batch.lua \
    "$MAIN_URL/api/metrics/batch" "201" "$MAIN_PID"
if wants list; then
    LIST_ITEMS=$(curl -s "$LIST_URL" | grep -o '"timestamp"' | wc -l)
    ((LIST_ITEMS == 100)) || log "WARNING: the list answered $LIST_ITEMS items, expected 100"
    run_scenario list get.lua "$LIST_URL" "200" "$MAIN_PID"
fi
if wants summary_hit; then
    # Warm the key, then check the next answer is a hit.
    curl -s -o /dev/null "$SUMMARY_URL"
    cache=$(curl -s -D - -o /dev/null "$SUMMARY_URL" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }')
    [[ "$cache" == HIT ]] || log "WARNING: the warmed summary answered X-Cache: ${cache:-<none>}"
    run_scenario summary_hit get.lua "$SUMMARY_URL" "200" "$MAIN_PID"
fi
wants summary_miss && run_scenario summary_miss summary_miss.lua "$MAIN_URL/api/metrics/summary" "200" "$MAIN_PID"
if wants ingest_refused; then
    # A second instance whose limit refuses all but the first request. Its own Redis database,
    # so the main instance's counts for 127.0.0.1 do not leak in.
    start_service refused RATE_LIMIT_REQUESTS=1 RATE_LIMIT_WINDOW_SECONDS=60 REDIS_DB=1
    REFUSED_PID=$SVC_PID
    run_scenario ingest_refused ingest.lua "http://127.0.0.1:$SVC_PORT/api/metrics" "201 429" "$REFUSED_PID"
    stop_pid "$REFUSED_PID"
    wait "$REFUSED_PID" 2>/dev/null || true
fi

# Ingest again with more connections, beside nginx with as many: with BENCH_CONNECTIONS the
# ingest loop waits on its Redis round trips and leaves part of the cores idle (the idle column),
# so this pair shows what the cores can do when there is enough work in flight to keep them busy.
if [[ -n "$NGINX_PORT" ]] && wants nginx_saturated; then
    run_scenario nginx_saturated get.lua "http://127.0.0.1:$NGINX_PORT/summary.json" "200" \
        "$NGINX_PID" "${nginx_workers[@]}"
fi
wants ingest_saturated && run_scenario ingest_saturated ingest.lua "$MAIN_URL/api/metrics" "201" "$MAIN_PID"

# The cost of recording metrics: cached summaries from the main instance (recording
# on) and from one built with ANALYTICS_TELEMETRY=OFF (same settings, same Redis), in alternating
# 5 s runs so that both see the same machine; the medians of requests/s and of the service's CPU
# time per request are compared (CPU per request is the steadier of the two on a busy machine).
TELEMETRY_JSON="null"
wrk_run() { # wrk_run URL PID: "<requests/s> <service CPU us per request>" of one 5 s get.lua run
    local out line ticks0 ticks1 requests
    ticks0=$(cpu_ticks "$2")
    BENCH_WRK_HOOK="$WRK_HOOK" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d5s --timeout 10s \
        -s "$ROOT/bench/wrk/get.lua" "$1" >"$WORK/wrk-telemetry.out" 2>&1 &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || { cat "$WORK/wrk-telemetry.out" >&2; die "wrk failed in telemetry"; }
    CLIENT_PID=
    ticks1=$(cpu_ticks "$2")
    out=$(<"$WORK/wrk-telemetry.out")
    line=$(grep '^BENCH_RESULT ' <<<"$out" | head -n1)
    [[ -n "$line" ]] || { echo "$out" >&2; die "no result line from wrk in telemetry"; }
    if [[ "$WRK_HOOK" != 0 && "$(kv statuses "$line")" != "200:$(kv requests "$line")" ]]; then
        die "telemetry: answers other than 200: $(kv statuses "$line")"
    fi
    requests=$(kv requests "$line")
    calc "printf \"%.1f %.3f\", $requests / ($(kv duration_us "$line") / 1e6), ($ticks1 - $ticks0) * 1e6 / $CLK_TCK / ($requests > 0 ? $requests : 1)"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
if wants telemetry; then
    SVC_BIN=$QUIET_API_BIN start_service no_telemetry \
        RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW_SECONDS=60 CACHE_TTL_SECONDS=3600
    QUIET_PID=$SVC_PID
    QUIET_SUMMARY_URL="http://127.0.0.1:$SVC_PORT/api/metrics/summary?type=$SUMMARY_TYPE&period=all"
    curl -s -o /dev/null "$SUMMARY_URL"
    curl -s -o /dev/null "$QUIET_SUMMARY_URL"
    on_rps=() off_rps=() on_cpu=() off_cpu=()
    # The order alternates too (on first in odd rounds), so that whatever favours the first or
    # the second run of a round falls on both builds.
    for ((round = 1; round <= TELEMETRY_ROUNDS; round++)); do
        for side in $( ((round % 2)) && echo "on off" || echo "off on"); do
            if [[ "$side" == on ]]; then
                read -r rps cpu <<<"$(wrk_run "$SUMMARY_URL" "$MAIN_PID")"
                on_rps+=("$rps") on_cpu+=("$cpu")
            else
                read -r rps cpu <<<"$(wrk_run "$QUIET_SUMMARY_URL" "$QUIET_PID")"
                off_rps+=("$rps") off_cpu+=("$cpu")
            fi
        done
        log "telemetry round $round: recording on ${on_rps[-1]} req/s ${on_cpu[-1]} us/r," \
            "off ${off_rps[-1]} req/s ${off_cpu[-1]} us/r"
    done
    stop_pid "$QUIET_PID"
    wait "$QUIET_PID" 2>/dev/null || true
    # Instructions per request do not depend on the machine's other load: the steadiest figure.
    TM_ON_INSTR=null TM_OFF_INSTR=null TM_INSTR_COST=null
    if command -v valgrind >/dev/null; then
        summary_path="/api/metrics/summary?type=$SUMMARY_TYPE&period=all"
        settings=(RATE_LIMIT_REQUESTS=1000000000 RATE_LIMIT_WINDOW_SECONDS=60 CACHE_TTL_SECONDS=3600)
        read -r TM_ON_INSTR _ <<<"$(bench/instructions.sh "$API_BIN" "$REDIS_PORT" "$summary_path" "${settings[@]}")"
        read -r TM_OFF_INSTR _ <<<"$(bench/instructions.sh "$QUIET_API_BIN" "$REDIS_PORT" "$summary_path" "${settings[@]}")"
        TM_INSTR_COST=$(calc "printf \"%.1f\", 100 * ($TM_ON_INSTR / $TM_OFF_INSTR - 1)")
        log "telemetry: $TM_ON_INSTR instructions per cached summary with recording, $TM_OFF_INSTR without"
    else
        log "WARNING: valgrind is missing: no instruction counts for the telemetry scenario"
    fi
    list() { local IFS=,; echo "$*"; }
    TM_ON_RPS=$(median "${on_rps[@]}") TM_OFF_RPS=$(median "${off_rps[@]}")
    TM_ON_CPU=$(median "${on_cpu[@]}") TM_OFF_CPU=$(median "${off_cpu[@]}")
    TM_RPS_COST=$(calc "printf \"%.1f\", 100 * (1 - $TM_ON_RPS / $TM_OFF_RPS)")
    TM_CPU_COST=$(calc "printf \"%.1f\", 100 * ($TM_ON_CPU / $TM_OFF_CPU - 1)")
    TELEMETRY_JSON=$(printf '{"rounds":%s,"on":{"rps":[%s],"cpu_us_per_request":[%s],"median_rps":%s,"median_cpu_us_per_request":%s},"off":{"rps":[%s],"cpu_us_per_request":[%s],"median_rps":%s,"median_cpu_us_per_request":%s},"rps_cost_percent":%s,"cpu_cost_percent":%s,"instructions_per_request":{"on":%s,"off":%s,"cost_percent":%s}}' \
        "$TELEMETRY_ROUNDS" "$(list "${on_rps[@]}")" "$(list "${on_cpu[@]}")" "$TM_ON_RPS" "$TM_ON_CPU" \
        "$(list "${off_rps[@]}")" "$(list "${off_cpu[@]}")" "$TM_OFF_RPS" "$TM_OFF_CPU" \
        "$TM_RPS_COST" "$TM_CPU_COST" "$TM_ON_INSTR" "$TM_OFF_INSTR" "$TM_INSTR_COST")
fi

HOLD_JSON="null"
if wants connections; then
    sleep 1  # let the server side of wrk's connections close
    log "holding $HOLD_CONNECTIONS keep-alive connections (GET $HOLD_PATH, 3 rounds, 2 s idle between)"
    "$HOLD_BIN" --port "$MAIN_PORT" --connections "$HOLD_CONNECTIONS" --path "$HOLD_PATH" \
        --rounds 3 --hold-seconds 2 --pid "$MAIN_PID" >"$WORK/hold.json" 2>"$WORK/hold.log" &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || true
    CLIENT_PID=
    sed 's/^/[bench]   /' "$WORK/hold.log" >&2
    HOLD_JSON=$(<"$WORK/hold.json")
    [[ "$HOLD_JSON" == "{"* ]] || { log "WARNING: hold_connections produced no result"; HOLD_JSON="null"; }
    [[ "$HOLD_JSON" == *'"all_ok":true'* ]] || FAILED_CHECKS+=(connections)
fi
kill -0 "$MAIN_PID" 2>/dev/null || die "the service exited during the connection test (logs in $WORK)"
FINAL_HWM_KB=$(status_kb "$MAIN_PID" VmHWM)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------------
json_field() { # json_field NAME JSON: a scalar field of a flat JSON object
    sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2" | head -n1
}
echo
echo "analytics-api benchmark, $STAMP, $(nproc) cores, load average $LOAD_BEFORE before / $LOAD_AFTER after"
echo "wrk: $WRK_THREADS threads, $CONNECTIONS connections ($SATURATED_CONNECTIONS for *_saturated), ${DURATION} s per scenario, response hook $([[ $WRK_HOOK == 0 ]] && echo off || echo on); service: APP_THREADS=$APP_THREADS, LOG_LEVEL=$SERVICE_LOG_LEVEL (no access lines during load); Redis AOF: $REDIS_AOF"
echo
printf '%-17s %5s %9s %8s %8s %8s %8s %7s %6s %5s %9s %9s %8s  %s\n' \
    scenario conns "req/s" "p50 ms" "p99 ms" "max ms" "non-2xx" errors "nginx" idle "cpu us/r" "redis us" "peak MB" check
for row in "${TABLE_ROWS[@]}"; do
    echo "$row"
done
echo
if [[ -n "${gbench_csv:-}" && -f "$gbench_csv" ]]; then
    echo "microbenchmarks (analytics_bench, CPU time per call):"
    awk -F, 'started && NF > 4 { gsub(/"/, "", $1); printf "  %-44s %9.1f ns\n", $1, $4 }
        /^name,/ { started = 1 }' "$gbench_csv"
    echo
fi
echo "idle RSS before load: $(calc "printf \"%.1f\", $IDLE_RSS_KB / 1024") MB; peak RSS of the run: $(calc "printf \"%.1f\", $FINAL_HWM_KB / 1024") MB"
if [[ "$HOLD_JSON" != null ]]; then
    echo "$(json_field connected "$HOLD_JSON")/$(json_field connections "$HOLD_JSON") connections held;" \
        "$(json_field ok "$HOLD_JSON")/$(json_field requests "$HOLD_JSON") requests OK" \
        "(failures: $(sed -n 's/.*"failures":\({[^}]*}\).*/\1/p' <<<"$HOLD_JSON"));" \
        "service RSS while holding: $(calc "printf \"%.1f\", $(json_field server_rss_kb_max_sampled "$HOLD_JSON") / 1024") MB;" \
        "all succeeded: $(json_field all_ok "$HOLD_JSON")"
fi

if [[ "$TELEMETRY_JSON" != null ]]; then
    echo "metric recording (cached summary, medians of $TELEMETRY_ROUNDS alternating 5 s runs):" \
        "on $TM_ON_RPS req/s, $TM_ON_CPU us/r; compiled out $TM_OFF_RPS req/s, $TM_OFF_CPU us/r;" \
        "cost $TM_RPS_COST% of req/s, $TM_CPU_COST% of CPU per request"
    if [[ "$TM_INSTR_COST" != null ]]; then
        echo "metric recording (callgrind, one worker): $TM_ON_INSTR instructions per cached summary" \
            "with it, $TM_OFF_INSTR compiled out: cost $TM_INSTR_COST%"
    fi
fi

{
    printf '{\n"format":"analytics-bench/1",\n"date":"%s",\n' "$STAMP"
    printf '"commit":"%s",\n' "$(git rev-parse --short HEAD 2>/dev/null || echo none)"
    printf '"machine":{"cores":%s,"load_before":"%s","load_after":"%s"},\n' "$(nproc)" "$LOAD_BEFORE" "$LOAD_AFTER"
    printf '"settings":{"duration_s":%s,"connections":%s,"saturated_connections":%s,"wrk_threads":%s,"wrk_response_hook":%s,"app_threads":%s,"log_level":"%s","redis_aof":"%s"},\n' \
        "$DURATION" "$CONNECTIONS" "$SATURATED_CONNECTIONS" "$WRK_THREADS" "$([[ $WRK_HOOK == 0 ]] && echo false || echo true)" "$APP_THREADS" "$SERVICE_LOG_LEVEL" "$REDIS_AOF"
    printf '"nginx_rps":%s,\n"nginx_cpu_us_per_request":%s,\n' "${NGINX_RPS:-null}" "${NGINX_CPU_US:-null}"
    printf '"idle_rss_kb":%s,\n"peak_rss_kb":%s,\n' "$IDLE_RSS_KB" "$FINAL_HWM_KB"
    printf '"scenarios":[\n'
    for i in "${!SCENARIO_JSON[@]}"; do
        printf '%s%s\n' "${SCENARIO_JSON[i]}" "$([[ $i -lt $((${#SCENARIO_JSON[@]} - 1)) ]] && echo ,)"
    done
    printf '],\n"telemetry":%s,\n"connections":%s,\n"microbenchmarks":%s\n}\n' \
        "$TELEMETRY_JSON" "$HOLD_JSON" "$GBENCH_JSON"
} >"$OUTPUT"
echo
echo "results: $OUTPUT"
if ((${#FAILED_CHECKS[@]} > 0)); then
    echo "checks failed: ${FAILED_CHECKS[*]} (service logs: $WORK)"
    exit 1
fi
RUN_OK=1
