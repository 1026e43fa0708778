#!/usr/bin/env bash
# The README's curl examples answer what the README shows (label e2e).
#
# Starts a redis-server of its own and the built service (ANALYTICS_BINARY) on free loopback
# ports, in a scratch directory whose .env holds an ADMIN_TOKEN, as ./start.sh leaves it; the
# simulated upstream never fails (EXTERNAL_SERVICE_FAILURE_RATE=0), so every answer is determined.
# Every ```bash block of README.md that contains `curl` is then run in order, in one shell (as a
# reader pastes them into one terminal, so a variable set by one block serves the next), with
# localhost:8000 pointed at the service. Each block's output is compared with the ```json,
# ```http or ```text block that follows it in the README:
#   - timestamps, X-Request-Id, traceparent, Date, Content-Length, the instance name, and the
#     rate-limit and retry figures may differ;
#   - header lines of an answer (after its status line, before the blank line) that the README
#     leaves out are not compared, nor are blank lines outside an answer's head; every other line
#     must be equal, in order.
# A curl block that cannot run here is preceded by `<!-- readme-test: skip (reason) -->`; any
# other curl block without an output block after it fails the test.
#
# Needs: ANALYTICS_BINARY and ANALYTICS_SOURCE_DIR. README (default: the checkout's README.md)
# names another file to check. Stops whatever it started, whatever happens.
set -euo pipefail
source "$ANALYTICS_SOURCE_DIR/scripts/lib.sh"
readme="${README:-$ANALYTICS_SOURCE_DIR/README.md}"

work=$(mktemp -d)
service_pid=""
cleanup() {
    set +e
    [[ -n "$service_pid" ]] && stop_pid "$service_pid"
    [[ -n "${REDIS_PID:-}" ]] && stop_pid "$REDIS_PID"
    rm -rf "$work"
}
trap cleanup EXIT

# --- 1. The examples and the output shown after each ------------------------------------------
mkdir -p "$work/blocks"
awk -v dir="$work/blocks" '
    function problem(msg) { print "README.md:" msg > (dir "/problems"); }
    function unanswered() {
        if (awaiting) problem(start[awaiting] ": a curl example with no ```json, ```http or ```text block after it");
        awaiting = 0;
    }
    BEGIN { state = "text"; n = 0; skipped = 0; awaiting = 0; skip_next = 0 }
    state == "text" {
        if ($0 ~ /^<!-- readme-test: skip \(.+\) -->$/) { unanswered(); skip_next = 1; next }
        if ($0 ~ /^[ ]*```bash[ ]*$/) {
            unanswered(); state = "bash"; body = ""; line = NR; skip = skip_next; skip_next = 0; next
        }
        if ($0 ~ /^[ ]*```(json|http|text)[ ]*$/ && awaiting) {
            state = "output"; out = ""; skip_next = 0; next
        }
        if ($0 ~ /^[ ]*```/) { unanswered(); state = "other"; skip_next = 0; next }
        if ($0 !~ /^[ \t]*$/) { unanswered(); skip_next = 0 }
        next
    }
    state == "bash" {
        if ($0 ~ /^[ ]*```[ ]*$/) {
            state = "text";
            if (body ~ /(^|[^A-Za-z0-9_.-])curl[ \t]/) {
                if (skip) { skipped++ }
                else {
                    n++; start[n] = line; awaiting = n;
                    printf "%s", body > (dir "/" n ".sh"); close(dir "/" n ".sh");
                    print line > (dir "/" n ".line"); close(dir "/" n ".line");
                }
            }
            next
        }
        body = body $0 "\n"; next
    }
    state == "output" {
        if ($0 ~ /^[ ]*```[ ]*$/) {
            state = "text";
            printf "%s", out > (dir "/" awaiting ".expected"); close(dir "/" awaiting ".expected");
            awaiting = 0; next
        }
        out = out $0 "\n"; next
    }
    state == "other" { if ($0 ~ /^[ ]*```[ ]*$/) state = "text"; next }
    END {
        unanswered();
        if (state != "text") problem(NR ": a code block is not closed");
        print n > (dir "/count"); print skipped > (dir "/skipped");
    }
' "$readme"
if [[ -s "$work/blocks/problems" ]]; then
    cat "$work/blocks/problems" >&2
    exit 1
fi
count=$(cat "$work/blocks/count")
if [[ "$count" -lt 1 ]]; then
    echo "README.md: no curl example found" >&2
    exit 1
fi

# --- 2. A fresh service, as ./start.sh leaves it ---------------------------------------------
start_private_redis "$work/redis"
mkdir -p "$work/app"
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
echo "ADMIN_TOKEN=$token" >"$work/app/.env"
# Only these variables: a developer's environment must not change what the examples answer.
(cd "$work/app" && exec env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
    ${ASAN_OPTIONS:+ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS:+UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
    APP_HOST=127.0.0.1 APP_PORT=0 APP_THREADS=2 REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" \
    EXTERNAL_SERVICE_FAILURE_RATE=0 LOG_LEVEL=INFO \
    "$ANALYTICS_BINARY" >"$work/service.log" 2>&1) &
service_pid=$!
port=""
for _ in $(seq 1 300); do
    port=$(listening_port "$service_pid" || true)
    [[ -n "$port" ]] && break
    kill -0 "$service_pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$port" ]]; then
    cat "$work/service.log" >&2
    echo "the service did not start" >&2
    exit 1
fi
for _ in $(seq 1 100); do
    [[ "$(http_status "http://127.0.0.1:$port/ready")" == 200 ]] && break
    sleep 0.1
done

# --- 3. Every example in one shell, each output between markers ------------------------------
{
    # What a terminal shows: curl's errors but no progress meter, and the next prompt on a line
    # of its own after a body without a final newline.
    cat <<'EOF'
exec 2>&1
curl() {
    local out rc=0
    out=$(mktemp)
    command curl -sS --max-time 10 "$@" >"$out" || rc=$?
    cat "$out"
    [[ -s "$out" && -n "$(tail -c1 "$out")" ]] && echo
    rm -f "$out"
    [[ $rc -eq 0 ]] || echo "(curl exited with status $rc)"
    return $rc
}
EOF
    for i in $(seq 1 "$count"); do
        echo "echo '@@readme-example $i@@'"
        sed -e "s#localhost:8000#127.0.0.1:$port#g" -e "s#127\.0\.0\.1:8000#127.0.0.1:$port#g" \
            "$work/blocks/$i.sh"
        echo "echo \"@@readme-example-end $i \$?@@\""
    done
} >"$work/examples.sh"
(cd "$work/app" && timeout 200 bash "$work/examples.sh") >"$work/examples.out" || true
awk -v dir="$work/blocks" '
    /^@@readme-example [0-9]+@@$/ { n = $2; sub(/@@$/, "", n); file = dir "/" n ".actual"; printf "" > file; next }
    /^@@readme-example-end [0-9]+ [0-9]+@@$/ {
        status = $3; sub(/@@$/, "", status); print status > (dir "/" n ".status"); close(file); file = ""; next
    }
    file != "" { print > file }
' "$work/examples.out"

# --- 4. Compare ---------------------------------------------------------------------------------
normalize() {
    tr -d '\r' | sed -E \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})/<time>/g' \
        -e 's/"address":"[^"]*"/"address":"<address>"/g' \
        -e 's/^(X-Request-Id|traceparent|Date|Content-Length): .*/\1: <varies>/I' \
        -e 's/^(X-RateLimit-Remaining|X-RateLimit-Reset|Retry-After): [0-9]+$/\1: <n>/I' \
        -e 's/(remaining|reset)=[0-9]+/\1=<n>/g' \
        -e 's/"retry_after_seconds":[0-9]+/"retry_after_seconds":<n>/g' \
        -e 's/"instance":"[^"]*"/"instance":"<instance>"/g' \
        | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}

# matches EXPECTED ACTUAL: every line of EXPECTED in ACTUAL, in order; ACTUAL may have more lines
# only where they are header lines of an answer, or blank lines outside an answer's head (a body
# followed by `echo` ends in one). Prints the first difference.
omittable() { # IN_HEADERS LINE
    if [[ $1 == 1 ]]; then [[ -n "$2" ]]; else [[ -z "$2" ]]; fi
}
matches() {
    local -a exp act
    mapfile -t exp <"$1"
    mapfile -t act <"$2"
    local i=0 j=0 in_headers=0 a
    while ((i < ${#act[@]})); do
        a=${act[i]}
        if ((j < ${#exp[@]})) && [[ "${exp[j]}" == "$a" ]]; then
            j=$((j + 1))
        elif ! omittable "$in_headers" "$a"; then
            echo "  line $((i + 1)): the README shows: ${exp[j]:-(nothing more)}"
            echo "  line $((i + 1)): the service said: $a"
            return 1
        fi
        if [[ "$a" =~ ^HTTP/[0-9.]+\ [0-9]{3} ]]; then
            in_headers=1
        elif [[ -z "$a" ]]; then
            in_headers=0
        fi
        i=$((i + 1))
    done
    if ((j < ${#exp[@]})); then
        echo "  the README shows more: ${exp[j]}"
        return 1
    fi
}

failures=0
for i in $(seq 1 "$count"); do
    line=$(cat "$work/blocks/$i.line")
    status=$(cat "$work/blocks/$i.status" 2>/dev/null || echo "none: the examples stopped before it")
    normalize <"$work/blocks/$i.expected" >"$work/blocks/$i.expected.n"
    normalize <"$work/blocks/$i.actual" >"$work/blocks/$i.actual.n" 2>/dev/null || : >"$work/blocks/$i.actual.n"
    if [[ "$status" == 0 ]] && diff_text=$(matches "$work/blocks/$i.expected.n" "$work/blocks/$i.actual.n"); then
        echo "ok: the example at README.md:$line answers as shown"
    else
        failures=$((failures + 1))
        {
            echo "FAILED: the example at README.md:$line (exit status $status)"
            echo "${diff_text:-}"
            echo "  --- it ran:"
            sed 's/^/  | /' "$work/blocks/$i.sh"
            echo "  --- the README shows:"
            sed 's/^/  | /' "$work/blocks/$i.expected"
            echo "  --- the service answered:"
            sed 's/^/  | /' "$work/blocks/$i.actual" 2>/dev/null || true
        } >&2
    fi
    diff_text=""
done
echo "readme: $count examples run, $(cat "$work/blocks/skipped") skipped by a marker, $failures failed"
if [[ $failures -gt 0 ]]; then
    echo "--- service log (last 20 lines)" >&2
    tail -n 20 "$work/service.log" >&2
    exit 1
fi
