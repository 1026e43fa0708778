#!/usr/bin/env bash
# bench/cluster.sh: one worker's Redis client against a single redis-server and against a Redis
# Cluster of 3 masters + 3 replicas (scripts/redis-cluster.sh), both on loopback with AOF
# (appendfsync everysec), with the same load: redis_throughput's pipelined SET + GET over many
# keys. Prints one line per mode. Stops what it started, by PID, however it ends.
#
#   BENCH_OPS=400000 BENCH_DEPTH=64 BENCH_KEYS=10000 BENCH_ROUNDS=3 bench/cluster.sh
#   BENCH_BUILD=0    reuse build/bench/bench/redis_throughput
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

OPS=${BENCH_OPS:-400000}
DEPTH=${BENCH_DEPTH:-64}
KEYS=${BENCH_KEYS:-10000}
ROUNDS=${BENCH_ROUNDS:-3}
BUILD_DIR=${BENCH_BUILD_DIR:-build/bench}

if [[ "${BENCH_BUILD:-1}" == 1 ]]; then
    cmake --preset release -B "$BUILD_DIR" -DANALYTICS_BENCH=ON >/dev/null
    cmake --build "$BUILD_DIR" --target redis_throughput
fi

work=$(mktemp -d)
cleanup() {
    [[ -n "${REDIS_PID:-}" ]] && stop_pid "$REDIS_PID"
    [[ -f "$work/cluster/ports" ]] && scripts/redis-cluster.sh stop "$work/cluster"
    rm -rf "$work"
}
trap cleanup EXIT

start_private_redis "$work/single" --appendonly yes --appendfsync everysec
nodes=$(scripts/redis-cluster.sh start "$work/cluster")

for round in $(seq 1 "$ROUNDS"); do
    echo "round $round"
    "$BUILD_DIR/bench/redis_throughput" single "127.0.0.1:$REDIS_PORT" "$OPS" "$DEPTH" "$KEYS"
    "$BUILD_DIR/bench/redis_throughput" cluster "$nodes" "$OPS" "$DEPTH" "$KEYS"
done
