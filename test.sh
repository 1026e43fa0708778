#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the dev preset (warnings as errors,
# AddressSanitizer + UndefinedBehaviorSanitizer), starts a private redis-server on a free
# loopback port, runs every CTest suite against it, and stops what it started.
#
#   ./test.sh                 all suites, then the API documentation checks, the chaos suite,
#                             the fuzz targets and ThreadSanitizer (below): what CI runs
#   ./test.sh --quick         between edits: the unit, Redis and end-to-end suites only (an
#                             incremental build; not their reruns over TLS, no documentation,
#                             contract, chaos, fuzz or ThreadSanitizer steps)
#   ./test.sh -L unit         only one label (unit, redis, e2e, redis-tls, e2e-tls, chaos; -L redis
#                             matches redis-tls too); any ctest arguments work
#   TEST_PRESET=debug ./test.sh   without sanitizers (quicker)
#   TEST_DOCS=0|1             skip, or force, the documentation checks (default: run them
#                             when no ctest arguments are given)
#   TEST_CONTRACT=0|1         the same for the OpenAPI contract test through Stoplight Prism
#   TEST_CHAOS=0|1, TEST_FUZZ=0|1, TEST_TSAN=0|1   the same for chaos, fuzzing and TSan
#   FUZZ_SECONDS=30           how long each fuzz target runs
#   TEST_TSAN_E2E=0           ThreadSanitizer on the shared objects' unit tests only, without
#                             the TSan build of the service driven by e2e and chaos tests
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

quick=0
if [[ "${1:-}" == "--quick" ]]; then
    quick=1
    shift
fi

scripts/install-deps.sh

preset="${TEST_PRESET:-dev}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"

work=$(mktemp -d)
cleanup() {
    [[ -n "${DOCS_SERVICE_PID:-}" ]] && stop_pid "$DOCS_SERVICE_PID"
    [[ -n "${REDIS_PID:-}" ]] && stop_pid "$REDIS_PID"
    [[ -f "$work/cluster/ports" ]] && scripts/redis-cluster.sh stop "$work/cluster"
    rm -rf "$work"
}
trap cleanup EXIT

start_private_redis "$work/redis"
echo "test.sh: redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT"

export REDIS_TEST_PORT="$REDIS_PORT"

# The Redis Cluster tests (3 masters + 3 replicas, scripts/redis-cluster.sh) share one cluster,
# and so does the end-to-end suite's second run (CTest e2e_cluster: the same tests on it).
export REDIS_CLUSTER_TEST_NODES
REDIS_CLUSTER_TEST_NODES=$(scripts/redis-cluster.sh start "$work/cluster")
echo "test.sh: redis cluster on $REDIS_CLUSTER_TEST_NODES"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Without arguments the chaos suite is left to its own step below, where it has both cores to
# itself (its latency figures mean nothing next to another suite).
ctest_args=("$@")
if [[ $# -eq 0 && $quick == 1 ]]; then
    # Between edits: the suites themselves, without their second run over TLS.
    ctest_args=(-L '^(unit|redis|e2e)$')
elif [[ $# -eq 0 ]]; then
    ctest_args=(-LE chaos)
fi
started=$SECONDS
# The Lua scripts Redis runs (src/*/scripts/*.lua), against Redis's Lua 5.1 (.luacheckrc).
luacheck --no-color --quiet src/*/scripts/*.lua

ctest --preset "$preset" -j2 --timeout 300 "${ctest_args[@]}"
echo "test.sh: test suites passed ($((SECONDS - started)) s)"
if [[ $quick == 1 ]]; then
    exit 0
fi

# --- Prometheus alert rules -------------------------------------------------------------------------
# deploy/prometheus/: the configuration and its alert rules parse, and the rules' unit tests
# (alerts_test.yml) pass. promtool comes with Debian's prometheus package.
promtool check config deploy/prometheus/prometheus.yml
promtool test rules deploy/prometheus/alerts_test.yml
echo "test.sh: Prometheus alert rules checked and unit-tested"

# --- API documentation ----------------------------------------------------------------------------
# docs/openapi.json through Redocly's linter; then the service just built, on a free port with
# the test redis-server, and /docs and /redoc driven in Debian's headless Chromium
# (tests/browser/docs.test.mjs). Screenshots go to build/<preset>/screenshots/.
default_docs=0
[[ $# -eq 0 ]] && default_docs=1
if [[ "${TEST_DOCS:-$default_docs}" == 1 ]]; then
    started=$SECONDS
    if ! tests/browser/node_modules/.bin/redocly lint --config docs/redocly.yaml \
        docs/openapi.json >"$work/lint.log" 2>&1; then
        cat "$work/lint.log" >&2
        echo "test.sh: the OpenAPI lint of docs/openapi.json failed" >&2
        exit 1
    fi
    echo "test.sh: OpenAPI lint of docs/openapi.json passed ($((SECONDS - started)) s)"

    started=$SECONDS
    build_dir="$PWD/build/$preset"
    # Its own working directory, so that a developer's .env does not configure it; port 0 and
    # the port read back from its `server.listening` line, so no other process can take it.
    mkdir -p "$work/docs-service"
    (cd "$work/docs-service" && APP_HOST=127.0.0.1 APP_PORT=0 APP_THREADS=2 \
        REDIS_HOST=127.0.0.1 REDIS_PORT="$REDIS_PORT" RATE_LIMIT_REQUESTS=100000 \
        EXTERNAL_SERVICE_FAILURE_RATE=0 LOG_LEVEL=INFO \
        exec "$build_dir/analytics-api" >"$work/docs-service.log" 2>&1) &
    DOCS_SERVICE_PID=$!
    docs_port=""
    for _ in $(seq 1 300); do
        docs_port=$(grep -m1 '"event":"server.listening"' "$work/docs-service.log" 2>/dev/null \
            | sed -n 's/.*"port":\([0-9]*\).*/\1/p' || true)
        [[ -n "$docs_port" ]] && break
        kill -0 "$DOCS_SERVICE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -z "$docs_port" ]]; then
        cat "$work/docs-service.log" >&2
        echo "test.sh: the service for the browser test did not start" >&2
        exit 1
    fi
    BASE_URL="http://127.0.0.1:$docs_port" SCREENSHOT_DIR="$build_dir/screenshots" \
        node tests/browser/docs.test.mjs
    stop_pid "$DOCS_SERVICE_PID"
    status=0
    wait "$DOCS_SERVICE_PID" || status=$?
    DOCS_SERVICE_PID=""
    if [[ $status -ne 0 ]]; then
        tail -n 50 "$work/docs-service.log" >&2
        echo "test.sh: the service exited with status $status after the browser test" >&2
        exit 1
    fi
    echo "test.sh: browser test of /docs and /redoc passed ($((SECONDS - started)) s)"
fi

# --- The OpenAPI contract through Stoplight Prism -------------------------------------------------
# tests/contract/prism.test.mjs: the service just built behind Prism's validating proxy, which
# checks an answer of every documented status of every operation against docs/openapi.json; it
# starts its own redis-server, service and proxies on free loopback ports and stops them.
default_contract=0
[[ $# -eq 0 ]] && default_contract=1
if [[ "${TEST_CONTRACT:-$default_contract}" == 1 ]]; then
    started=$SECONDS
    if ! ANALYTICS_BINARY="$PWD/build/$preset/analytics-api" node tests/contract/prism.test.mjs \
        >"$work/contract.log" 2>&1; then
        cat "$work/contract.log" >&2
        echo "test.sh: the Prism contract test failed" >&2
        exit 1
    fi
    grep -E '^prism contract:' "$work/contract.log"
    echo "test.sh: Prism contract test passed ($((SECONDS - started)) s)"
fi

# --- Fault injection, fuzzing, ThreadSanitizer ----------------------------------------------------
# The chaos suite (tests/chaos/, label chaos): the service just built, under faults, against
# private redis-servers; what it measured is printed and kept in build/<preset>/chaos-tests.log.
# Then every fuzz target for FUZZ_SECONDS (scripts/fuzz.sh: clang, its own build in build/fuzz),
# then scripts/test-tsan.sh.
default_hardening=0
[[ $# -eq 0 ]] && default_hardening=1
if [[ "${TEST_CHAOS:-$default_hardening}" == 1 ]]; then
    started=$SECONDS
    chaos_log="$PWD/build/$preset/chaos-tests.log"
    status=0
    # -V: the tests' own output, [ measured ] lines included, goes to the log.
    ctest --preset "$preset" -L chaos --timeout 300 -V >"$chaos_log" 2>&1 || status=$?
    grep -F '[ measured ]' "$chaos_log" | sed 's/^[0-9]*: //' || true
    grep -E '^[0-9]+% tests passed|tests failed|Failed|\*\*\*' "$chaos_log" || true
    if [[ $status -ne 0 ]]; then
        echo "test.sh: the chaos suite failed (full output: $chaos_log)" >&2
        exit 1
    fi
    echo "test.sh: chaos suite passed ($((SECONDS - started)) s)"
fi

if [[ "${TEST_FUZZ:-$default_hardening}" == 1 ]]; then
    started=$SECONDS
    scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
    echo "test.sh: fuzz targets ran clean ($((SECONDS - started)) s)"
fi

if [[ "${TEST_TSAN:-$default_hardening}" == 1 ]]; then
    started=$SECONDS
    TSAN_E2E="${TEST_TSAN_E2E:-1}" TSAN_DRIVER_BUILD="build/$preset" scripts/test-tsan.sh
    echo "test.sh: ThreadSanitizer step passed ($((SECONDS - started)) s)"
fi
