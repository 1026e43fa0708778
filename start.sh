#!/usr/bin/env bash
# Starts the service natively: installs what is missing, builds the release preset, starts a
# local redis-server with AOF persistence under var/ when nothing answers at
# REDIS_HOST:REDIS_PORT, starts analytics-api in the background, waits for /health and prints
# where it is. Stop everything it started with ./stop.sh.
#
#   ./start.sh --docker   the same in containers (docker-compose.yml); ./stop.sh --docker stops it
#
# Either way, when no ADMIN_TOKEN is set (environment or .env) it writes a generated one into .env
# (created from .env.example if absent), so that the admin API and ./demo.sh work.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/lib.sh

# ensure_admin_token: ADMIN_TOKEN from the environment or .env, else a new random one in .env.
ensure_admin_token() {
    [[ -n "$(dotenv_get ADMIN_TOKEN "")" ]] && return 0
    if [[ ! -f .env ]]; then
        cp .env.example .env
        echo "start.sh: created .env from .env.example"
    fi
    local token
    token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
    if grep -qE '^[[:space:]]*(export[[:space:]]+)?ADMIN_TOKEN=' .env; then
        sed -i -E "s|^[[:space:]]*(export[[:space:]]+)?ADMIN_TOKEN=.*|ADMIN_TOKEN=$token|" .env
    else
        [[ -s .env && $(tail -c1 .env | od -An -c | tr -d ' ') != '\n' ]] && echo >>.env
        echo "ADMIN_TOKEN=$token" >>.env
    fi
    chmod 600 .env
    echo "start.sh: generated ADMIN_TOKEN into .env (the admin API and ./demo.sh use it)"
}
ensure_admin_token

# ./start.sh --docker: builds the image, starts redis and app with docker-compose (pulling the
# base images, or building local stand-ins where no registry answers: docker/local-images.sh),
# waits for both health checks and for /ready, and prints where the service is.
if [[ "${1:-}" == "--docker" ]]; then
    source docker/lib.sh
    docker_preflight
    docker/local-images.sh --check || docker/local-images.sh
    export_build_ca_certs
    compose up -d --build
    echo "start.sh: waiting for the health checks of redis and app"
    wait_healthy redis 60
    wait_healthy app 90
    app_port=$(dotenv_get APP_PORT 8000)
    publish=$(dotenv_get PUBLISH_ADDRESS 127.0.0.1)
    [[ "$publish" == 0.0.0.0 ]] && publish=127.0.0.1
    base="http://$publish:$app_port"
    ready=0
    for _ in $(seq 1 100); do
        curl -fsS -o /dev/null "$base/ready" 2>/dev/null && { ready=1; break; }
        sleep 0.2
    done
    if [[ $ready -eq 0 ]]; then
        echo "start.sh: the containers are healthy but $base/ready does not answer 200:" >&2
        curl -sS "$base/ready" >&2 || true
        echo >&2
        exit 1
    fi
    echo
    echo "analytics-api is running in Docker (docker-compose ps shows both containers)"
    echo "  health:  curl $base/health"
    echo "  API:     $base/api/metrics"
    echo "  demo:    ./demo.sh $base"
    echo "  logs:    docker-compose logs -f app"
    echo "  stop:    ./stop.sh --docker"
    curl -sS "$base/ready"
    echo
    exit 0
fi

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release

mkdir -p var
redis_host=$(dotenv_get REDIS_HOST localhost)
redis_port=$(dotenv_get REDIS_PORT 6379)
redis_password=$(dotenv_get REDIS_PASSWORD "")
app_port=$(dotenv_get APP_PORT 8000)

if [[ -f var/analytics-api.pid ]] && kill -0 "$(cat var/analytics-api.pid)" 2>/dev/null; then
    echo "analytics-api is already running (pid $(cat var/analytics-api.pid)); ./stop.sh stops it"
    exit 1
fi

redis_ping() {
    REDISCLI_AUTH="$redis_password" redis-cli -h "$redis_host" -p "$redis_port" ping 2>/dev/null \
        | grep -q PONG
}

if redis_ping; then
    echo "Redis answers at $redis_host:$redis_port; using it"
else
    if [[ "$redis_host" != "localhost" && "$redis_host" != "127.0.0.1" ]]; then
        echo "Redis does not answer at $redis_host:$redis_port; start it or fix REDIS_HOST" >&2
        exit 1
    fi
    echo "Starting redis-server on 127.0.0.1:$redis_port (AOF under var/redis)"
    mkdir -p var/redis
    args=(--port "$redis_port" --bind 127.0.0.1 --dir "$PWD/var/redis" --appendonly yes
          --appendfsync everysec --save '' --daemonize no)
    if [[ -n "$redis_password" ]]; then
        args+=(--requirepass "$redis_password")
    fi
    nohup redis-server "${args[@]}" >var/redis.log 2>&1 &
    echo $! >var/redis.pid
    for _ in $(seq 1 100); do
        redis_ping && break
        sleep 0.05
    done
    redis_ping || { echo "redis-server did not start; see var/redis.log" >&2; exit 1; }
fi

nohup build/release/analytics-api >>var/analytics-api.log 2>&1 &
echo $! >var/analytics-api.pid

for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$app_port/health" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$(cat var/analytics-api.pid)" 2>/dev/null; then
        echo "analytics-api exited; last lines of var/analytics-api.log:" >&2
        tail -n 5 var/analytics-api.log >&2
        rm -f var/analytics-api.pid
        exit 1
    fi
    sleep 0.1
done

echo
echo "analytics-api is running (pid $(cat var/analytics-api.pid)), logs in var/analytics-api.log"
echo "  health:  curl http://localhost:$app_port/health"
echo "  API:     http://localhost:$app_port/api/metrics"
echo "  stop:    ./stop.sh"
curl -sS "http://127.0.0.1:$app_port/health"
echo
