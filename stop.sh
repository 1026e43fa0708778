#!/usr/bin/env bash
# Stops what ./start.sh started: the service (SIGTERM, graceful) and, if start.sh launched it,
# the local redis-server.
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

for name in analytics-api redis; do
    pidfile="var/$name.pid"
    if [[ -f "$pidfile" ]]; then
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            echo "stopping $name (pid $pid)"
            stop_pid "$pid"
        fi
        rm -f "$pidfile"
    fi
done
