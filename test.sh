#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the dev preset (warnings as errors,
# AddressSanitizer + UndefinedBehaviorSanitizer), starts a private redis-server on a free
# loopback port, runs every CTest suite against it, and stops what it started.
#
#   ./test.sh                 all suites, then the API documentation checks (below)
#   ./test.sh -L unit         only one label (unit, redis, e2e); any ctest arguments work
#   TEST_PRESET=debug ./test.sh   without sanitizers (quicker)
#   TEST_DOCS=0|1             skip, or force, the documentation checks (default: run them
#                             when no ctest arguments are given)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

scripts/install-deps.sh

preset="${TEST_PRESET:-dev}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"

work=$(mktemp -d)
cleanup() {
    [[ -n "${DOCS_SERVICE_PID:-}" ]] && stop_pid "$DOCS_SERVICE_PID"
    [[ -n "${REDIS_PID:-}" ]] && stop_pid "$REDIS_PID"
    rm -rf "$work"
}
trap cleanup EXIT

start_private_redis "$work/redis"
echo "test.sh: redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT"

export REDIS_TEST_PORT="$REDIS_PORT"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --preset "$preset" -j2 --timeout 300 "$@"

# --- API documentation (issue 8) ------------------------------------------------------------------
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
