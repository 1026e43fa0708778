#!/usr/bin/env bash
# Starts the service natively: installs what is missing, builds the release preset, starts a
# local redis-server with AOF persistence when nothing answers at REDIS_HOST:REDIS_PORT (its
# files under var/redis-<port>/, its pid in var/redis-<port>.pid: one of each per port, so Redis
# servers on different ports never share data), starts analytics-api in the background, waits
# for /health and prints where it is. Stop everything it started with ./stop.sh.
# When a step fails (APP_PORT taken, say), it stops what this run started before it exits.
#
#   ./start.sh --docker   the same in containers (docker-compose.yml); ./stop.sh --docker stops it
#   ANALYTICS_BINARY=build/dev/analytics-api ./start.sh
#                         runs that binary as it is built: no dependency install, no build
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

if [[ -n "${ANALYTICS_BINARY:-}" ]]; then
    binary="$ANALYTICS_BINARY"
    [[ -x "$binary" ]] || { echo "start.sh: ANALYTICS_BINARY=$binary is not an executable" >&2; exit 1; }
    echo "start.sh: running $binary as built (ANALYTICS_BINARY; nothing installed or built)"
else
    scripts/install-deps.sh
    cmake --preset release >/dev/null
    cmake --build --preset release
    binary=build/release/analytics-api
fi

mkdir -p var
redis_host=$(dotenv_get REDIS_HOST localhost)
redis_port=$(dotenv_get REDIS_PORT 6379)
redis_password=$(dotenv_get REDIS_PASSWORD "")
app_port=$(dotenv_get APP_PORT 8000)
# Where to ask for /health: the address the service binds, or loopback for a wildcard.
app_host=$(dotenv_get APP_HOST 0.0.0.0)
case "$app_host" in
    0.0.0.0) probe="127.0.0.1:$app_port" ;;
    ::) probe="[::1]:$app_port" ;;
    *:*) probe="[$app_host]:$app_port" ;;
    *) probe="$app_host:$app_port" ;;
esac

if [[ -f var/analytics-api.pid ]] && kill -0 "$(cat var/analytics-api.pid)" 2>/dev/null; then
    echo "analytics-api is already running (pid $(cat var/analytics-api.pid)); ./stop.sh stops it"
    exit 1
fi

# What this run starts is stopped again unless the run gets to the end.
started=()
succeeded=0
stop_on_failure() {
    [[ $succeeded -eq 1 || ${#started[@]} -eq 0 ]] && return 0
    echo "start.sh: failed; stopping what this run started" >&2
    local i
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do
        stop_pidfile "${started[i]}" "var/${started[i]}.pid" >&2
    done
}
trap stop_on_failure EXIT

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
    redis_name="redis-$redis_port"
    # Earlier versions kept one var/redis/ for whichever port; its data stays with the first port
    # started after the upgrade.
    if [[ -d var/redis && ! -e "var/$redis_name" ]] && ! pid_alive var/redis.pid; then
        mv var/redis "var/$redis_name"
        echo "start.sh: moved the Redis data of var/redis/ to var/$redis_name/"
    fi
    echo "Starting redis-server on 127.0.0.1:$redis_port (AOF under var/$redis_name)"
    mkdir -p "var/$redis_name"
    args=(--port "$redis_port" --bind 127.0.0.1 --dir "$PWD/var/$redis_name" --appendonly yes
          --appendfsync everysec --save '' --daemonize no)
    if [[ -n "$redis_password" ]]; then
        args+=(--requirepass "$redis_password")
    fi
    nohup redis-server "${args[@]}" >"var/$redis_name.log" 2>&1 &
    echo $! >"var/$redis_name.pid"
    started+=("$redis_name")
    # Up to 20 s while it lives: loading a large AOF, or a busy machine, takes a while.
    for _ in $(seq 1 400); do
        redis_ping && break
        pid_alive "var/$redis_name.pid" || break
        sleep 0.05
    done
    if ! redis_ping; then
        tail -n 5 "var/$redis_name.log" >&2
        echo "redis-server did not start; see var/$redis_name.log" >&2
        exit 1
    fi
fi

nohup "$binary" >>var/analytics-api.log 2>&1 &
echo $! >var/analytics-api.pid
started+=(analytics-api)

healthy=0
for _ in $(seq 1 100); do
    if curl -fsS "http://$probe/health" >/dev/null 2>&1; then
        healthy=1
        break
    fi
    if ! pid_alive var/analytics-api.pid; then
        echo "analytics-api exited; last lines of var/analytics-api.log:" >&2
        tail -n 5 var/analytics-api.log >&2
        exit 1
    fi
    sleep 0.1
done
if [[ $healthy -eq 0 ]]; then
    echo "analytics-api does not answer http://$probe/health within 10 s;" \
         "last lines of var/analytics-api.log:" >&2
    tail -n 5 var/analytics-api.log >&2
    exit 1
fi
succeeded=1

echo
echo "analytics-api is running (pid $(cat var/analytics-api.pid)), logs in var/analytics-api.log"
echo "  health:  curl http://localhost:$app_port/health"
echo "  API:     http://localhost:$app_port/api/metrics"
echo "  stop:    ./stop.sh"
curl -sS "http://$probe/health"
echo
