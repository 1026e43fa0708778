#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) and runs each for a while.
#
#   scripts/fuzz.sh                      every target for 30 s
#   scripts/fuzz.sh 600                  every target for 10 minutes
#   scripts/fuzz.sh 3600 http_request    one target for an hour
#   FUZZ_BUILD_DIR=/tmp/f scripts/fuzz.sh  another build directory (default build/fuzz)
#
# Targets: http_request metric_body rfc3339 query_params forwarded_for resp_replies.
# Each starts from its seed corpus in fuzz/corpus/<target> and from what earlier runs found in
# <build>/corpus/<target> (kept between runs, so longer runs build on shorter ones). A crash, a
# leak, a timeout (10 s per input) or a failed property stops that target; the input is saved
# as <build>/artifacts/<target>/crash-* and the script exits 1 after running the others. Turn
# a finding into a unit test with the input, fix it, and copy the input into fuzz/corpus/.
# Prints one line per target: executions, executions per second, and the coverage reached
# (libFuzzer's `cov`: instrumented edges hit; `ft`: features, edges with hit counts).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-30}}"
if [[ $# -gt 0 ]]; then
    shift
fi
all_targets=(http_request metric_body rfc3339 query_params forwarded_for resp_replies)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=("${all_targets[@]}")
fi
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
    echo "fuzz.sh: seconds must be a positive whole number, got '$seconds'" >&2
    exit 2
fi
for t in "${targets[@]}"; do
    if [[ ! " ${all_targets[*]} " == *" $t "* ]]; then
        echo "fuzz.sh: unknown target '$t' (one of: ${all_targets[*]})" >&2
        exit 2
    fi
done

build="${FUZZ_BUILD_DIR:-build/fuzz}"
scripts/install-deps.sh --fuzz
if [[ ! -f "$build/build.ninja" ]]; then
    CXX=clang++ cmake -S fuzz -B "$build" -G Ninja >/dev/null
fi
cmake --build "$build"

# Leaks count as findings; a failed UBSan check stops the run like a crash.
export ASAN_OPTIONS="${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

failed=()
for t in "${targets[@]}"; do
    corpus="$build/corpus/$t"
    artifacts="$build/artifacts/$t"
    log="$build/logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    status=0
    "$build/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "$corpus" "fuzz/corpus/$t" >"$log" 2>&1 || status=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    units=$(find "$corpus" -type f | wc -l)
    if [[ $status -ne 0 ]]; then
        grep -E 'ERROR|SUMMARY|fuzz property failed|Test unit written' "$log" >&2 || true
        echo "fuzz.sh: $t FAILED after ${runs:-?} runs (exit status $status); log: $log" >&2
        failed+=("$t")
        continue
    fi
    echo "fuzz.sh: $t: ${runs:-?} runs in ${seconds} s (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus $units inputs"
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: findings in: ${failed[*]} (inputs under $build/artifacts/)" >&2
    exit 1
fi
