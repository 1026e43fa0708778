#!/usr/bin/env bash
# Stops what ./start.sh started: the service (SIGTERM, graceful) and every local redis-server
# start.sh launched (one per REDIS_PORT it ran with).
#
#   ./stop.sh --docker   stops and removes what ./start.sh --docker started; the Redis data
#                        volume is kept (docker-compose down -v removes it too)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

if [[ "${1:-}" == "--docker" ]]; then
    source docker/lib.sh
    docker_preflight
    # down sends SIGTERM (the app drains and exits 0 within stop_grace_period), then removes the
    # containers and the network.
    compose down
    echo "stop.sh: stopped; the Redis data volume (redis-data) is kept:" \
         "docker-compose down -v removes it"
    exit 0
fi

# The service first, so that it drains while Redis still answers; then every Redis server
# start.sh started (one pid file per port; var/redis.pid is from earlier versions).
stop_pidfile analytics-api var/analytics-api.pid
for pidfile in var/redis-*.pid var/redis.pid; do
    [[ -f "$pidfile" ]] || continue
    name=$(basename "$pidfile" .pid)
    stop_pidfile "$name" "$pidfile"
done
