# shellcheck shell=bash
# Shell helpers for the Docker path: ./start.sh --docker, ./stop.sh --docker and
# scripts/test-docker.sh. Source it after `cd` to the repository root; do not run it.

# compose ARGS...: docker-compose.yml through `docker compose` (v2) when the Docker CLI has it,
# else the standalone docker-compose (1.29 on Debian 12).
compose() {
    if [[ -z "${COMPOSE_CMD:-}" ]]; then
        if docker compose version >/dev/null 2>&1; then
            COMPOSE_CMD="docker compose"
        elif command -v docker-compose >/dev/null 2>&1; then
            COMPOSE_CMD="docker-compose"
        else
            echo "neither 'docker compose' nor docker-compose is installed" >&2
            return 1
        fi
    fi
    $COMPOSE_CMD "$@"
}

# docker_preflight: fails with a helpful message unless a Docker engine and compose answer.
docker_preflight() {
    if ! command -v docker >/dev/null 2>&1; then
        echo "docker is not installed: install Docker (Debian: apt-get install docker.io docker-compose)" >&2
        return 1
    fi
    local why
    if ! why=$(docker info 2>&1 >/dev/null); then
        echo "no Docker engine answers${DOCKER_HOST:+ at $DOCKER_HOST}:" >&2
        echo "  $(grep -i -m1 -E 'error|cannot|denied' <<<"$why" || echo "$why" | tail -n1)" >&2
        echo "start Docker (the docker service, or Docker Desktop) and make sure this user may use" \
             "it; scripts/test-docker.sh shows how to run dockerd by hand" >&2
        return 1
    fi
    compose version >/dev/null
}

# wait_healthy SERVICE SECONDS: waits until the service's container reports "healthy". Fails,
# showing the container's last log lines, when it exits, turns unhealthy or time runs out.
wait_healthy() {
    local service="$1" timeout="$2" id state health deadline
    deadline=$((SECONDS + timeout))
    while :; do
        id=$(compose ps -q "$service" 2>/dev/null || true)
        if [[ -n "$id" ]]; then
            state=$(docker inspect -f '{{.State.Status}}' "$id" 2>/dev/null || echo missing)
            health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' \
                "$id" 2>/dev/null || echo missing)
            if [[ "$health" == healthy ]]; then
                return 0
            fi
            if [[ "$state" == exited || "$state" == dead || "$health" == unhealthy ]]; then
                echo "$service is $state/$health; its last log lines:" >&2
                docker logs --tail 20 "$id" >&2 || true
                return 1
            fi
        fi
        if ((SECONDS >= deadline)); then
            echo "$service did not turn healthy within ${timeout}s (state ${state:-not created}," \
                 "health ${health:-unknown})" >&2
            [[ -n "$id" ]] && docker logs --tail 20 "$id" >&2
            return 1
        fi
        sleep 1
    done
}

# export_build_ca_certs: when this machine trusts certificate authorities of its own (Debian's
# place for them: /usr/local/share/ca-certificates), hands them to the image build as
# BUILD_CA_CERTS, so that npm in the build stage gets through the same TLS-inspecting proxy the
# host does. A BUILD_CA_CERTS already set is left alone.
export_build_ca_certs() {
    [[ -n "${BUILD_CA_CERTS:-}" ]] && return 0
    local certs
    certs=$(cat /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt \
        2>/dev/null || true)
    if [[ -n "$certs" ]]; then
        export BUILD_CA_CERTS="$certs"
    fi
}
