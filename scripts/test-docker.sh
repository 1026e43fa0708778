#!/usr/bin/env bash
# Proves the Docker path with a real engine, the way a user takes it:
#   1. installs Debian's docker.io and docker-compose when missing, and starts dockerd by hand
#      (data and exec roots in a temp dir, stopped by PID at the end) unless an engine answers;
#   2. makes the base images available: pulled where a registry answers, else debian:bookworm
#      and bookworm-slim from debootstrap and a local stand-in for the Redis image
#      (docker/local-images.sh);
#   3. ./start.sh --docker on free ports with a generated ADMIN_TOKEN and REDIS_PASSWORD: builds
#      the image, compose up, both health checks, /ready; then checks the image (size, non-root,
#      HEALTHCHECK, STOPSIGNAL, no compiler or source) and that .env.example, docker-compose.yml
#      and `analytics-api --help` name the same variables with the same defaults;
#   4. ./demo.sh against it (the seed's three examples);
#   5. AOF persistence: metrics ingested before `docker-compose restart redis`, and before the
#      Redis container is recreated on the same named volume, are still listed after;
#   6. SIGTERM: the app container stops with exit status 0; ./stop.sh --docker keeps the data
#      volume; `docker-compose down -v` removes it; dockerd is stopped.
# Takes a few minutes (most of it the first image build). Ends with "N passed, M failed".
#
#   scripts/test-docker.sh
#   TEST_DOCKER_DATA_ROOT=/var/tmp/td scripts/test-docker.sh   keep the engine's images there
#                                                              between runs (quicker reruns)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
source docker/lib.sh

t0=$SECONDS
passed=0
failed=0
step() { printf '\n[test-docker %4ss] %s\n' $((SECONDS - t0)) "$*"; }
pass() {
    passed=$((passed + 1))
    echo "  ok    $*"
}
fail() {
    failed=$((failed + 1))
    echo "  FAIL  $*"
}
check() {  # check DESCRIPTION COMMAND...: pass when the command succeeds
    local what="$1"
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
die() {
    echo "test-docker: $*" >&2
    exit 1
}

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
apt_install() {
    echo "test-docker: installing $*"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ---------------------------------------------------------------------------------------------
# Clean-up: whatever happens, the stack is removed and the dockerd we started is stopped.

dockerd_pid=""
dockerd_children=""
dockerd_dir=""
keep_data_root=0
stack_up=0

stop_dockerd() {
    [[ -z "$dockerd_pid" ]] && return 0
    echo "test-docker: stopping dockerd (pid $dockerd_pid)"
    # Its containerd is its child; remember it in case it outlives dockerd.
    dockerd_children=$(pgrep -P "$dockerd_pid" || true)
    kill "$dockerd_pid" 2>/dev/null || true
    local i
    for i in $(seq 1 300); do
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    local child
    for child in $dockerd_children; do
        stop_pid "$child"
    done
    dockerd_pid=""
    # Mounts left behind by a dockerd that did not exit cleanly would keep the directory busy.
    awk -v d="$dockerd_dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r \
        | while read -r m; do $sudo umount -l "$m" 2>/dev/null || true; done
    if [[ $keep_data_root -eq 0 ]]; then
        $sudo rm -rf "$dockerd_dir"
    else
        rm -f "$dockerd_dir/docker.sock" "$dockerd_dir/dockerd.pid"
    fi
}

cleanup() {
    local status=$?
    set +e
    if [[ $stack_up -eq 1 ]]; then
        if [[ $status -ne 0 || $failed -ne 0 ]]; then
            echo "test-docker: last log lines of the stack:"
            compose logs --no-color --tail 30 2>&1 | cut -c1-400
        fi
        compose down -v --remove-orphans >/dev/null 2>&1
    fi
    stop_dockerd
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
step "Docker engine and compose"

command -v curl >/dev/null || apt_install curl ca-certificates
if ! command -v docker >/dev/null; then
    apt_install docker.io
fi
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
    apt_install docker-compose
fi

if docker info >/dev/null 2>&1; then
    echo "test-docker: using the Docker engine that answers at ${DOCKER_HOST:-the default socket}"
else
    [[ $(id -u) -eq 0 ]] || die "no Docker engine answers, and starting dockerd needs root"
    command -v dockerd >/dev/null || apt_install docker.io
    if [[ -n "${TEST_DOCKER_DATA_ROOT:-}" ]]; then
        dockerd_dir="$TEST_DOCKER_DATA_ROOT"
        keep_data_root=1
        mkdir -p "$dockerd_dir"
    else
        # Short, so that the sockets under it stay within the 108-byte limit.
        dockerd_dir=$(mktemp -d /tmp/test-docker.XXXXXX)
    fi
    mkdir -p "$dockerd_dir/data" "$dockerd_dir/exec"
    dockerd --data-root "$dockerd_dir/data" --exec-root "$dockerd_dir/exec" \
        --host "unix://$dockerd_dir/docker.sock" --pidfile "$dockerd_dir/dockerd.pid" \
        >"$dockerd_dir/dockerd.log" 2>&1 &
    dockerd_pid=$!
    export DOCKER_HOST="unix://$dockerd_dir/docker.sock"
    for _ in $(seq 1 120); do
        docker info >/dev/null 2>&1 && break
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.5
    done
    if ! docker info >/dev/null 2>&1; then
        tail -n 20 "$dockerd_dir/dockerd.log" >&2
        die "dockerd did not start"
    fi
    echo "test-docker: dockerd pid $dockerd_pid, data under $dockerd_dir"
fi
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'
compose version 2>&1 | sed -n 1p

# ---------------------------------------------------------------------------------------------
step "Base images (pulled, or built locally where no registry answers)"
docker/local-images.sh
docker image ls --format '  {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E 'debian|redis' || true

# ---------------------------------------------------------------------------------------------
# The environment wins over .env for both compose and the scripts, so a developer's own .env
# changes nothing that matters here.
export COMPOSE_PROJECT_NAME=ra-docker-test
export PUBLISH_ADDRESS=127.0.0.1

step "Image build (docker-compose build app)"
build_t=$SECONDS
export_build_ca_certs
compose build app
build_s=$((SECONDS - build_t))
echo "test-docker: image build took $build_s s"

# ---------------------------------------------------------------------------------------------
step "./start.sh --docker (compose up, health checks, /ready)"

free_port() {
    local p
    while :; do
        p=$(((RANDOM % 20000) + 20000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && [[ "$p" != "${1:-}" ]]; then
            echo "$p"
            return
        fi
    done
}
random_secret() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

ADMIN_TOKEN=$(random_secret)
REDIS_PASSWORD=$(random_secret)
export ADMIN_TOKEN REDIS_PASSWORD
stack_up=1
start_log=$(mktemp)
for attempt in 1 2 3; do
    # Ports are picked just before use; another process may still take one first: then again.
    APP_PORT=$(free_port)
    REDIS_PORT=$(free_port "$APP_PORT")
    export APP_PORT REDIS_PORT
    start_t=$SECONDS
    if ./start.sh --docker 2>&1 | tee "$start_log"; then
        break
    fi
    if [[ $attempt -lt 3 ]] && grep -qiE 'already (in use|allocated)' "$start_log"; then
        echo "test-docker: a port was taken meanwhile; again with other ports"
        compose down >/dev/null 2>&1 || true
        continue
    fi
    rm -f "$start_log"
    die "./start.sh --docker failed"
done
rm -f "$start_log"
echo "test-docker: ./start.sh --docker took $((SECONDS - start_t)) s"
base="http://127.0.0.1:$APP_PORT"
app_id=$(compose ps -q app)
redis_id=$(compose ps -q redis)
health_of() { docker inspect -f '{{.State.Health.Status}}' "$1"; }
check "redis container healthy" test "$(health_of "$redis_id")" = healthy
check "app container healthy" test "$(health_of "$app_id")" = healthy
check "GET /ready answers 200 (Redis connected, with REDIS_PASSWORD)" \
    curl -fsS -o /dev/null "$base/ready"
check "Redis requires the password" \
    bash -c "docker exec '$redis_id' redis-cli ping 2>&1 | grep -q NOAUTH"
check "ports published on 127.0.0.1 only" \
    bash -c "docker port '$app_id' 8000 | grep -qx '127.0.0.1:$APP_PORT' &&
             docker port '$redis_id' 6379 | grep -qx '127.0.0.1:$REDIS_PORT'"

# ---------------------------------------------------------------------------------------------
step "The image"
image=resilient-analytics-api:latest
size=$(docker image inspect -f '{{.Size}}' "$image")
image_mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')
echo "  image $image: $image_mb MB"
docker history --format '{{.Size}}\t{{.CreatedBy}}' "$image" \
    | awk -F'\t' '$1 != "0B" { printf "  %8s  %s\n", $1, substr($2, 1, 90) }'
user=$(docker image inspect -f '{{.Config.User}}' "$image")
check "runs as a non-root user ($user)" bash -c "[[ -n '$user' && '$user' != root && '$user' != 0 && '$user' != 0:* ]]"
check "the process in the container is uid 10001" test "$(docker exec "$app_id" id -u)" = 10001
check "STOPSIGNAL SIGTERM" test "$(docker image inspect -f '{{.Config.StopSignal}}' "$image")" = SIGTERM
check "HEALTHCHECK on /health" \
    bash -c "docker image inspect -f '{{json .Config.Healthcheck}}' '$image' | grep -q /health"
leftovers=$(docker run --rm --entrypoint sh "$image" -c '
    for t in gcc g++ cc c++ clang cmake ninja make ld as; do command -v "$t"; done
    for d in /src /usr/include/boost /usr/include/hiredis; do [ -e "$d" ] && echo "$d"; done
    find / -xdev \( -name "*.cpp" -o -name "*.hpp" -o -name CMakeLists.txt \) -print 2>/dev/null | head -n 5
    true')
check "no compiler, headers or sources in the image${leftovers:+: $leftovers}" test -z "$leftovers"

# Every variable analytics-api knows: in .env.example with the same default, and passed
# through by docker-compose.yml to the app container.
help=$(docker run --rm "$image" --help | awk '/^[A-Z][A-Z0-9_]+ / { d = $2; if (d == "unset" || d == "(none)") d = ""; print $1 "=" d }')
example=$(grep -E '^[A-Z][A-Z0-9_]*=' .env.example | sed 's/[[:space:]]*#.*//')
container_env=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$app_id" | cut -d= -f1)
missing_example=""
wrong_default=""
missing_compose=""
while IFS='=' read -r name default; do
    line=$(grep -E "^$name=" <<<"$example" || true)
    if [[ -z "$line" ]]; then
        missing_example+=" $name"
    elif [[ "${line#*=}" != "$default" ]]; then
        wrong_default+=" $name(${line#*=} vs $default)"
    fi
    grep -qx "$name" <<<"$container_env" || missing_compose+=" $name"
done <<<"$help"
check "every variable of --help ($(wc -l <<<"$help")) is in .env.example${missing_example:+, missing:$missing_example}" \
    test -z "$missing_example"
check ".env.example defaults match --help${wrong_default:+:$wrong_default}" test -z "$wrong_default"
check "docker-compose.yml passes every variable to the app${missing_compose:+, missing:$missing_compose}" \
    test -z "$missing_compose"

# ---------------------------------------------------------------------------------------------
step "./demo.sh $base"
if NO_COLOR=1 ./demo.sh "$base"; then
    pass "./demo.sh: the seed's three examples"
else
    fail "./demo.sh (see above)"
fi

# ---------------------------------------------------------------------------------------------
step "AOF persistence across a restart of the redis container"
mark="aof_check_$(date +%s)"
client="198.51.100.$((RANDOM % 254 + 1))"
for i in 1 2 3; do
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    curl -fsS -o /dev/null -H 'Content-Type: application/json' -H "X-Forwarded-For: $client" \
        -d "{\"timestamp\": \"$ts\", \"value\": $i.5, \"type\": \"$mark\"}" "$base/api/metrics" \
        || fail "POST metric $i of $mark"
done
list_url="$base/api/metrics/list?type=$mark"
before=$(curl -fsS "$list_url")
echo "  before: $before"
check "3 metrics listed before the restart" test "$(grep -o '"type"' <<<"$before" | wc -l)" -eq 3
check "Redis runs with appendonly yes" bash -c \
    "docker exec '$redis_id' sh -c 'REDISCLI_AUTH=\"\$REDIS_PASSWORD\" redis-cli config get appendonly' | grep -qx yes"

# After Redis comes back, the service reconnects by itself (capped back-off): poll the list.
list_after_redis_returns() {
    wait_healthy redis 60 || return 1
    local i out
    for i in $(seq 1 60); do
        if out=$(curl -fsS "$list_url" 2>/dev/null); then
            echo "$out"
            return 0
        fi
        sleep 0.5
    done
    return 1
}

compose restart redis
after=$(list_after_redis_returns || true)
echo "  after restart: $after"
check "the same metrics listed after docker-compose restart redis" test "$after" = "$before"

compose up -d --no-deps --force-recreate redis
redis_id=$(compose ps -q redis)
after=$(list_after_redis_returns || true)
echo "  after recreate: $after"
check "the same metrics listed after the container is recreated (named volume)" test "$after" = "$before"

# ---------------------------------------------------------------------------------------------
step "Graceful stop, ./stop.sh --docker, docker-compose down -v"
compose stop app
check "the app exits with status 0 on SIGTERM" test "$(docker inspect -f '{{.State.ExitCode}}' "$app_id")" = 0
check "the app logged its drain" bash -c "docker logs '$app_id' 2>&1 | grep -q server.stopped"
./stop.sh --docker
check "./stop.sh --docker removed the containers" test -z "$(compose ps -q)"
volume="${COMPOSE_PROJECT_NAME}_redis-data"
check "./stop.sh --docker kept the data volume" bash -c "docker volume inspect '$volume' >/dev/null"
compose down -v
stack_up=0
check "docker-compose down -v removed the data volume" bash -c "! docker volume inspect '$volume' >/dev/null 2>&1"

# ---------------------------------------------------------------------------------------------
echo
echo "test-docker: image $image_mb MB, built in $build_s s; whole run $((SECONDS - t0)) s"
echo "test-docker: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
