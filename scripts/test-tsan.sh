#!/usr/bin/env bash
# ThreadSanitizer over the parts of the service that run on several threads.
#
#   scripts/test-tsan.sh             both steps below (about 3 minutes on two idle cores)
#   TSAN_E2E=0 scripts/test-tsan.sh  only the unit tests of the shared objects (about a minute)
#
# 1. tsan_threads_tests (tests/chaos/CMakeLists.txt): the unit tests of what every worker thread
#    shares (the circuit breaker, the rate limiter's local backstop and outage log), built with
#    the tsan preset from just the sources they test.
# 2. analytics-api built with the tsan preset (the library, not the tests: about 80 s on two
#    idle cores), started with two worker threads by tests of an existing build (TSAN_DRIVER_BUILD,
#    default build/dev, whose e2e_tests and chaos_tests start the binary named by
#    ANALYTICS_TEST_BINARY): the end-to-end tests that cross threads (start-up and shutdown, the
#    connection cap, the process-wide breaker, the rate limiter's backstop, the telemetry
#    counters) and the whole chaos suite (Redis killed and stalled, slow clients, garbage, an
#    upstream failure storm, all under load from many clients).
#
# Any ThreadSanitizer report fails the run; reports are kept in build/tsan/tsan-reports/.
# Step 2 needs a redis-server: REDIS_TEST_PORT (./test.sh exports it), else one is started here.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

build=build/tsan
reports="$PWD/$build/tsan-reports"
cmake --preset tsan >/dev/null
targets=(tsan_threads_tests)
if [[ "${TSAN_E2E:-1}" == 1 ]]; then
    targets+=(analytics-api)
fi
cmake --build --preset tsan --target "${targets[@]}"

rm -rf "$reports"
mkdir -p "$reports"
# log_path: one file per process that found something, the service's included (its stderr
# belongs to the test that started it). Without halt_on_error every race is reported, not
# only the first.
export TSAN_OPTIONS="log_path=$reports/tsan:second_deadlock_stack=1:history_size=4"

check_reports() {
    if compgen -G "$reports/tsan*" >/dev/null; then
        cat "$reports"/tsan* >&2
        echo "test-tsan.sh: ThreadSanitizer reported the above ($1); files in $reports" >&2
        exit 1
    fi
}

started=$SECONDS
"$build/tests/chaos/tsan_threads_tests" --gtest_brief=1
check_reports "unit tests"
echo "test-tsan.sh: unit tests of the shared objects clean under TSan ($((SECONDS - started)) s)"

if [[ "${TSAN_E2E:-1}" == 1 ]]; then
    driver="${TSAN_DRIVER_BUILD:-build/dev}"
    for exe in e2e_tests chaos/chaos_tests; do
        if [[ ! -x "$driver/tests/$exe" ]]; then
            echo "test-tsan.sh: $driver/tests/$exe is missing; build it first (./test.sh does)" >&2
            exit 2
        fi
    done
    work=$(mktemp -d)
    cleanup() {
        [[ -n "${TSAN_REDIS_PID:-}" ]] && stop_pid "$TSAN_REDIS_PID"
        rm -rf "$work"
    }
    trap cleanup EXIT
    if [[ -z "${REDIS_TEST_PORT:-}" ]]; then
        start_private_redis "$work/redis"
        TSAN_REDIS_PID=$REDIS_PID
        export REDIS_TEST_PORT=$REDIS_PORT
    fi
    export ANALYTICS_TEST_BINARY="$PWD/$build/analytics-api"
    started=$SECONDS
    "$driver/tests/e2e_tests" --gtest_brief=1 \
        --gtest_filter='server_e2e.*:breaker_e2e.*:ratelimit_e2e.*:telemetry_e2e.*'
    # All but the check that resident memory falls back after a burst of held bodies: that one
    # measures the C library's allocator, and under TSan the service runs on TSan's, which keeps
    # what it freed (./test.sh checks it with the service under AddressSanitizer).
    "$driver/tests/chaos/chaos_tests" --gtest_brief=1 \
        --gtest_filter='-buffered_bodies_chaos.memory_returns_after_two_thousand_unfinished_bodies_close'
    check_reports "end-to-end and chaos tests"
    echo "test-tsan.sh: end-to-end subset and chaos suite clean with the service under TSan" \
        "($((SECONDS - started)) s)"
fi
