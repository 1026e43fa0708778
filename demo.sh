#!/usr/bin/env bash
# Walks through the seed's three examples against a running service, printing every request and
# response, and checks each answer against what the seed (and docs/contract.md) says:
#   1. metrics in, summary out: the first summary is computed (X-Cache: MISS), the second is
#      served from the cache (X-Cache: HIT);
#   2. rate limiting: RATE_LIMIT_REQUESTS requests accepted (201), the next one refused with
#      429 and Retry-After;
#   3. circuit breaker: the simulated upstream made to fail (admin API) opens the breaker after
#      CIRCUIT_BREAKER_FAILURE_THRESHOLD failures; calls then fail at once (503 CIRCUIT_OPEN);
#      with the upstream healthy again the breaker turns HALF_OPEN after
#      CIRCUIT_BREAKER_RESET_TIMEOUT seconds and one trial call closes it.
#
#   ./demo.sh [BASE_URL]    default http://localhost:$APP_PORT (APP_PORT: environment, .env, 8000)
#
# ADMIN_TOKEN comes from the environment or .env (./start.sh writes one there). The demo sets the
# upstream's failure rate to 0 while it runs, so that its answers are deterministic, and puts back
# EXTERNAL_SERVICE_FAILURE_RATE / EXTERNAL_SERVICE_LATENCY_MS (environment, .env, defaults) at
# the end. Each run uses metric types of its own (DEMO_TYPE, default cpu_usage_demo_<epoch>) and
# client addresses of its own (X-Forwarded-For, believed from trusted proxies such as localhost),
# so runs do not disturb each other. It takes about CIRCUIT_BREAKER_RESET_TIMEOUT + 10 seconds.
# Exit status: 0 when every check passed, 1 when one failed, 2 when the demo could not run.
set -uo pipefail
cd "$(dirname "$0")" || exit 2
source scripts/lib.sh

case "${1:-}" in
    -h | --help)
        sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
esac

base="${1:-http://localhost:$(dotenv_get APP_PORT 8000)}"
base="${base%/}"
admin_token=$(dotenv_get ADMIN_TOKEN "")
configured_failure_rate=$(dotenv_get EXTERNAL_SERVICE_FAILURE_RATE 0.1)
configured_latency_ms=$(dotenv_get EXTERNAL_SERVICE_LATENCY_MS 0)
threshold=$(dotenv_get CIRCUIT_BREAKER_FAILURE_THRESHOLD 5)
demo_type="${DEMO_TYPE:-cpu_usage_demo_$(date +%s)}"
client_a="198.18.$((RANDOM % 256)).$((RANDOM % 254 + 1))"
client_b="198.19.$((RANDOM % 256)).$((RANDOM % 254 + 1))"

if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then
    bold=$'\e[1m' dim=$'\e[2m' green=$'\e[32m' red=$'\e[31m' yellow=$'\e[33m' reset=$'\e[0m'
else
    bold="" dim="" green="" red="" yellow="" reset=""
fi

work=$(mktemp -d)
passed=0
failed=0
upstream_changed=0

restore_upstream() {
    if [[ $upstream_changed -eq 1 ]]; then
        upstream_changed=0
        echo
        echo "${dim}Putting the upstream back as configured" \
             "(failure_rate $configured_failure_rate, latency_ms $configured_latency_ms)${reset}"
        call PUT /api/admin/external-service \
            "{\"failure_rate\": $configured_failure_rate, \"latency_ms\": $configured_latency_ms}" \
            "Authorization: Bearer $admin_token"
        expect_status 200
    fi
}
cleanup() {
    restore_upstream
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

section() { printf '\n%s== %s ==%s\n' "$bold" "$*" "$reset"; }
note() { printf '%s%s%s\n' "$dim" "$*" "$reset"; }

ok() {
    passed=$((passed + 1))
    printf '  %sok%s    %s\n' "$green" "$reset" "$*"
}
fail() {
    failed=$((failed + 1))
    printf '  %sFAIL%s  %s\n' "$red" "$reset" "$*"
}

# ---------------------------------------------------------------------------------------------
# HTTP

STATUS=""
BODY=""

# send METHOD PATH [BODY] [HEADER...]: the request, quietly; sets STATUS and BODY, keeps the
# response headers in $work/headers.
send() {
    local method="$1" path="$2" body="${3:-}"
    shift 3 2>/dev/null || shift $#
    local args=(-sS --max-time 15 -X "$method" -o "$work/body" -D "$work/headers" -w '%{http_code}')
    local h
    for h in "$@"; do
        args+=(-H "$h")
    done
    if [[ -n "$body" ]]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    : >"$work/body"
    : >"$work/headers"
    STATUS=$(curl "${args[@]}" "$base$path" 2>"$work/curl.err") || STATUS="000"
    BODY=$(cat "$work/body")
    if [[ "$STATUS" == 000 ]]; then
        BODY="(no response: $(tr -d '\n' <"$work/curl.err"))"
    fi
}

# call METHOD PATH [BODY] [HEADER...]: the request, printed as a curl command line, then the
# status, the headers that matter here, and the body.
call() {
    local method="$1" path="$2" body="${3:-}"
    local shown=("curl" "-X" "$method" "'$base$path'")
    local h
    for h in "${@:4}"; do
        # The token itself is not printed.
        [[ "$h" == "Authorization: Bearer "* ]] && h='Authorization: Bearer $ADMIN_TOKEN'
        shown+=("-H" "'$h'")
    done
    if [[ -n "$body" ]]; then
        shown+=("-H" "'Content-Type: application/json'" "-d" "'$body'")
    fi
    printf '%s$ %s%s\n' "$bold" "${shown[*]}" "$reset"
    send "$@"
    local extra
    extra=$(grep -i -E '^(x-cache|retry-after|x-ratelimit-[a-z]+):' "$work/headers" \
        | tr -d '\r' | paste -sd '|' - | sed 's/|/  |  /g')
    printf '  HTTP %s%s\n' "$STATUS" "${extra:+  |  $extra}"
    printf '  %s\n' "$BODY"
}

header() {
    grep -i -E "^$1:" "$work/headers" | tail -n1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//;s/ *$//'
}

# json FIELD: the value of FIELD in the flat JSON object BODY (strings without their quotes).
json() {
    printf '%s' "$BODY" | sed -n -E "s/.*\"$1\"[[:space:]]*:[[:space:]]*(\"([^\"]*)\"|([^,}]*)).*/\2\3/p" \
        | head -n1
}

# ---------------------------------------------------------------------------------------------
# Checks

expect_status() {
    if [[ "$STATUS" == "$1" ]]; then ok "status $1"; else fail "status $STATUS, expected $1"; fi
}
expect_header() {
    local got
    got=$(header "$1")
    if [[ "$got" == "$2" ]]; then ok "$1: $2"; else fail "$1: '${got}', expected '$2'"; fi
}
expect_json() {
    local got
    got=$(json "$1")
    if [[ "$got" == "$2" ]]; then ok "$1 = $2"; else fail "$1 = '${got}', expected '$2'"; fi
}
expect_number() {  # FIELD EXPECTED: equal within 1e-9
    local got
    got=$(json "$1")
    if awk -v a="$got" -v b="$2" 'BEGIN { d = a - b; exit !(a != "" && d < 1e-9 && d > -1e-9) }'; then
        ok "$1 = $got"
    else
        fail "$1 = '${got}', expected $2"
    fi
}
expect_positive_integer_header() {
    local got
    got=$(header "$1")
    if [[ "$got" =~ ^[0-9]+$ && "$got" -ge 1 ]]; then ok "$1: $got"; else fail "$1: '${got}', expected whole seconds >= 1"; fi
}

iso_at() {  # EPOCH_SECONDS -> RFC 3339 UTC (GNU date, else BSD date)
    date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$1" +%Y-%m-%dT%H:%M:%SZ
}

# breaker_state: GET the breaker's status quietly; sets STATE (BODY holds the status).
STATE=""
breaker_state() {
    send GET /api/circuit-breaker/status
    STATE=$(json state)
}

# ---------------------------------------------------------------------------------------------
# Before the examples

printf '%sResilient Analytics API demo against %s%s\n' "$bold" "$base" "$reset"
send GET /health
if [[ "$STATUS" != 200 ]]; then
    echo "${red}The service does not answer at $base/health ($STATUS $BODY).${reset}" >&2
    echo "Start it with ./start.sh (or ./start.sh --docker), or pass its URL: ./demo.sh URL" >&2
    exit 2
fi
if [[ "$(json redis_connected)" != true ]]; then
    echo "${red}The service answers but Redis is not connected: $BODY${reset}" >&2
    exit 2
fi
if [[ -z "$admin_token" ]]; then
    echo "${red}ADMIN_TOKEN is not set (environment or .env).${reset} Example 3 drives the simulated" >&2
    echo "upstream through PUT /api/admin/external-service, which needs the service's ADMIN_TOKEN:" >&2
    echo "./start.sh writes a generated one into .env; or run ADMIN_TOKEN=... ./demo.sh" >&2
    exit 2
fi

section "Setup: a healthy upstream for a deterministic walk-through"
note "The simulated upstream fails EXTERNAL_SERVICE_FAILURE_RATE ($configured_failure_rate) of the calls;"
note "the demo sets 0 now and puts $configured_failure_rate back at the end."
call PUT /api/admin/external-service '{"failure_rate": 0, "latency_ms": 0}' \
    "Authorization: Bearer $admin_token"
if [[ "$STATUS" == 401 || "$STATUS" == 403 ]]; then
    echo "${red}The admin API refused the token ($STATUS): ADMIN_TOKEN here differs from the" \
         "service's.${reset} Restart the service after changing .env." >&2
    exit 2
fi
expect_status 200
if [[ "$STATUS" != 200 ]]; then
    echo "${red}PUT /api/admin/external-service answered $STATUS; the demo cannot go on.${reset}" >&2
    exit 1
fi
upstream_changed=1

# A breaker left open by earlier traffic closes after its reset timeout and one good call.
breaker_state
if [[ "$STATUS" != 200 ]]; then
    echo "${red}GET /api/circuit-breaker/status answered $STATUS $BODY${reset}" >&2
    exit 1
fi
if [[ "$STATE" != CLOSED ]]; then
    note "The breaker is $STATE from earlier traffic; waiting for it to close."
    for _ in $(seq 1 120); do
        [[ "$STATE" == HALF_OPEN ]] && send GET "/api/metrics/summary?type=${demo_type}_setup"
        breaker_state
        [[ "$STATE" == CLOSED ]] && break
        sleep 1
    done
    if [[ "$STATE" != CLOSED ]]; then
        echo "${red}The breaker did not close (state $STATE).${reset}" >&2
        exit 1
    fi
fi

# ---------------------------------------------------------------------------------------------
section "Example 1: create metrics and get a summary (cache MISS, then HIT)"
note "Metric type $demo_type (new for this run, so nothing is cached yet)."
now=$(date +%s)
call POST /api/metrics "{\"timestamp\": \"$(iso_at $((now - 60)))\", \"value\": 60.5, \"type\": \"$demo_type\"}" \
    "X-Forwarded-For: $client_a"
expect_status 201
expect_json message "Metric received"
expect_json type "$demo_type"
call POST /api/metrics "{\"timestamp\": \"$(iso_at "$now")\", \"value\": 75.8, \"type\": \"$demo_type\"}" \
    "X-Forwarded-For: $client_a"
expect_status 201

echo
note "First summary: computed (through the circuit breaker and the upstream) and cached."
call GET "/api/metrics/summary?type=$demo_type"
expect_status 200
expect_header X-Cache MISS
expect_json count 2
expect_number average_value 68.15
expect_number min_value 60.5
expect_number max_value 75.8
expect_number latest_value 75.8
first_summary="$BODY"

echo
note "Second summary: served from the cache (CACHE_TTL_SECONDS)."
call GET "/api/metrics/summary?type=$demo_type"
expect_status 200
expect_header X-Cache HIT
if [[ "$BODY" == "$first_summary" ]]; then ok "same body as the first answer"; else fail "body differs from the first answer"; fi

echo
call GET "/api/metrics/list?type=$demo_type&limit=10"
expect_status 200
listed=$(printf '%s' "$BODY" | grep -o "\"type\":\"$demo_type\"" | wc -l | tr -d ' ')
if [[ "$listed" == 2 ]]; then ok "both metrics listed"; else fail "$listed metrics listed, expected 2"; fi

echo
note "A batch of three in one request, with an Idempotency-Key: sent twice, it is stored once."
batch="[{\"timestamp\": \"$(iso_at "$now")\", \"value\": 61, \"type\": \"$demo_type\"}, {\"timestamp\": \"$(iso_at "$now")\", \"value\": 62, \"type\": \"$demo_type\"}, {\"timestamp\": \"$(iso_at "$now")\", \"value\": 63, \"type\": \"$demo_type\"}]"
call POST /api/metrics/batch "$batch" "X-Forwarded-For: $client_a" "Idempotency-Key: demo-$demo_type"
expect_status 201
expect_json message "Metrics received"
expect_json count 3
first_batch="$BODY"
call POST /api/metrics/batch "$batch" "X-Forwarded-For: $client_a" "Idempotency-Key: demo-$demo_type"
expect_status 201
if [[ "$BODY" == "$first_batch" ]]; then ok "the repeat answers what the first answered"; else fail "the repeat answered differently"; fi
send GET "/api/metrics/list?type=$demo_type&limit=10"
listed=$(printf '%s' "$BODY" | grep -o "\"type\":\"$demo_type\"" | wc -l | tr -d ' ')
if [[ "$listed" == 5 ]]; then ok "five metrics listed: the batch was stored once"; else fail "$listed metrics listed, expected 5"; fi

# ---------------------------------------------------------------------------------------------
section "Example 2: rate limiting (POST /api/metrics, per client)"
note "A fresh client ($client_b, sent as X-Forwarded-For) posts until it is refused."
body_for() { echo "{\"timestamp\": \"$(iso_at "$(date +%s)")\", \"value\": 70, \"type\": \"${demo_type}_rl\"}"; }
printf '%s$ curl -X POST %s -H %s -H %s -d %s%s   (repeated)\n' "$bold" "'$base/api/metrics'" \
    "'X-Forwarded-For: $client_b'" "'Content-Type: application/json'" "'$(body_for)'" "$reset"
limit=""
first_remaining=""
accepted=0
refused=0
for i in $(seq 1 1001); do
    send POST /api/metrics "$(body_for)" "X-Forwarded-For: $client_b"
    [[ -z "$limit" ]] && limit=$(header X-RateLimit-Limit)
    [[ -z "$first_remaining" ]] && first_remaining=$(header X-RateLimit-Remaining)
    printf '  #%-3s HTTP %s  X-RateLimit-Remaining: %s%s\n' "$i" "$STATUS" \
        "$(header X-RateLimit-Remaining)" "$([[ "$STATUS" == 429 ]] && echo "  Retry-After: $(header Retry-After)")"
    if [[ "$STATUS" == 201 ]]; then
        accepted=$((accepted + 1))
    elif [[ "$STATUS" == 429 ]]; then
        refused=1
        break
    else
        fail "request $i answered $STATUS: $BODY"
        break
    fi
    if [[ ! "$limit" =~ ^[0-9]+$ ]] || ((i > limit + 1)); then
        break
    fi
done
printf '  %s\n' "$BODY"
if [[ ! "$limit" =~ ^[0-9]+$ ]]; then
    fail "no X-RateLimit-Limit header (is RATE_LIMIT_ENABLED false?)"
elif [[ $refused -ne 1 ]]; then
    fail "$accepted requests accepted and none refused; the limit is $limit"
else
    if [[ "$first_remaining" == $((limit - 1)) ]]; then
        if [[ $accepted -eq $limit ]]; then
            ok "$limit requests accepted (201), request $((limit + 1)) refused, as the seed says"
        else
            fail "$accepted requests accepted before the 429, expected $limit"
        fi
    else
        # Without a trusted proxy in between, X-Forwarded-For is ignored (docs/contract.md) and this
        # client is the demo's own address, which may have spent part of its quota already.
        printf '  %snote%s  X-Forwarded-For was not believed (the service does not trust this\n' "$yellow" "$reset"
        printf '        address as a proxy: TRUSTED_PROXIES), so this client had spent part of\n'
        printf '        its quota before: %s accepted, then refused\n' "$accepted"
        if [[ $accepted -le $limit ]]; then
            ok "refused within the limit of $limit"
        else
            fail "$accepted accepted, more than the limit of $limit"
        fi
    fi
    expect_status 429
    expect_json code RATE_LIMIT_EXCEEDED
    expect_positive_integer_header Retry-After
    expect_header X-RateLimit-Remaining 0
fi

# ---------------------------------------------------------------------------------------------
section "Example 3: the circuit breaker opens and closes"
call GET /api/circuit-breaker/status
expect_status 200
expect_json state CLOSED

echo
note "Make the simulated upstream fail every call (the seed's set_failure_rate(1.0)):"
call PUT /api/admin/external-service '{"failure_rate": 1.0}' "Authorization: Bearer $admin_token"
expect_status 200
expect_number failure_rate 1

echo
note "Summaries not in the cache call the upstream; each failure counts"
note "(CIRCUIT_BREAKER_FAILURE_THRESHOLD = $threshold, read from the environment / .env):"
printf '%s$ curl %s%s   (a new type each time, so every call misses the cache)\n' "$bold" \
    "'$base/api/metrics/summary?type=${demo_type}_probeN'" "$reset"
failures=0
for i in $(seq 1 $((threshold + 5))); do
    send GET "/api/metrics/summary?type=${demo_type}_probe$i"
    code=$(json code)
    line="  #$i HTTP $STATUS $code"
    breaker_state
    printf '%s  -> breaker %s, failure_count %s\n' "$line" "$STATE" "$(json failure_count)"
    [[ "$code" == EXTERNAL_SERVICE_ERROR ]] && failures=$((failures + 1))
    [[ "$STATE" == OPEN || "$code" != EXTERNAL_SERVICE_ERROR ]] && break
done
if [[ "$STATE" == OPEN && $failures -eq $threshold ]]; then
    ok "OPEN after $threshold failed calls (503 EXTERNAL_SERVICE_ERROR)"
else
    fail "breaker $STATE after $failures failed calls, expected OPEN after $threshold"
fi

echo
call GET /api/circuit-breaker/status
expect_json state OPEN
wait_s=$(json retry_after_seconds)

echo
note "While open, calls fail at once without reaching the upstream:"
call GET "/api/metrics/summary?type=${demo_type}_while_open"
expect_status 503
expect_json code CIRCUIT_OPEN
expect_positive_integer_header Retry-After

echo
note "Heal the upstream (the seed resets the failure rate; 0 here so that the trial succeeds):"
call PUT /api/admin/external-service '{"failure_rate": 0}' "Authorization: Bearer $admin_token"
expect_status 200

echo
[[ "$wait_s" =~ ^[0-9]+$ ]] || wait_s=$(dotenv_get CIRCUIT_BREAKER_RESET_TIMEOUT 30)
note "Waiting for the reset timeout (about ${wait_s} s): OPEN -> HALF_OPEN"
deadline=$((SECONDS + ${wait_s%.*} + 15))
while ((SECONDS < deadline)); do
    breaker_state
    [[ "$STATE" != OPEN ]] && break
    printf '.'
    sleep 1
done
echo
call GET /api/circuit-breaker/status
expect_json state HALF_OPEN

echo
note "One trial call is let through; it succeeds, so the breaker closes:"
call GET "/api/metrics/summary?type=$demo_type&period=daily"
expect_status 200
expect_header X-Cache MISS
expect_json count 5   # the two single metrics and the batch of three
call GET /api/circuit-breaker/status
expect_json state CLOSED
expect_json failure_count 0

restore_upstream

# ---------------------------------------------------------------------------------------------
echo
if [[ $failed -eq 0 ]]; then
    printf '%sdemo: %d passed, 0 failed: everything as the seed says%s\n' "$green" "$passed" "$reset"
    exit 0
fi
printf '%sdemo: %d passed, %d failed%s\n' "$red" "$passed" "$failed" "$reset"
exit 1
