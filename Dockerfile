# Resilient Analytics API: a two-stage image.
#   build:   debian:bookworm with the packages of scripts/install-deps.sh; the release preset.
#   runtime: debian:bookworm-slim with only the shared libraries the binary links
#            (scripts/install-deps.sh --runtime) plus curl for the health check; no compiler,
#            no headers, no sources; runs as an unprivileged user.
#
#   docker build -t resilient-analytics-api .
#   docker run --rm -p 127.0.0.1:8000:8000 -e REDIS_HOST=host.docker.internal resilient-analytics-api
#
# Configuration is the environment (analytics-api --help lists every variable); docker-compose.yml
# passes the variables of .env through. Uses nothing beyond the classic builder (docker-compose
# 1.29 builds with it); BuildKit reads it the same.

FROM debian:bookworm AS build
WORKDIR /src
# PEM certificates to trust besides Debian's while fetching npm packages, for machines that reach
# the registry through a TLS-inspecting proxy (./start.sh --docker passes the host's locally added
# CAs). Used in this stage only; the final image has none of it.
ARG BUILD_CA_CERTS=""
# The dependency layer first: it changes only with install-deps.sh or the npm lock file of
# tools/ (the documentation bundles the build embeds), so code edits reuse it.
# (sed: a Windows checkout may have given the script CRLF line ends.)
COPY scripts/install-deps.sh scripts/install-deps.sh
COPY tools/package.json tools/package-lock.json tools/
RUN if [ -n "$BUILD_CA_CERTS" ]; then \
        printf '%s\n' "$BUILD_CA_CERTS" >/tmp/build-ca.pem \
        && export NODE_EXTRA_CA_CERTS=/tmp/build-ca.pem; \
    fi \
    && sed -i 's/\r$//' scripts/install-deps.sh \
    && bash scripts/install-deps.sh --build \
    && rm -rf /var/lib/apt/lists/* /root/.npm /tmp/build-ca.pem
# Everything else the build reads; .dockerignore keeps build trees, tests, .git and .env out.
COPY . .
RUN cmake --preset release \
    && cmake --build --preset release \
    && strip --strip-unneeded build/release/analytics-api \
    && build/release/analytics-api --version

FROM debian:bookworm-slim AS runtime
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN sed -i 's/\r$//' /tmp/install-deps.sh \
    && bash /tmp/install-deps.sh --runtime \
    && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
    && groupadd --system --gid 10001 analytics \
    && useradd --system --uid 10001 --gid analytics --no-create-home --home-dir /nonexistent \
               --shell /usr/sbin/nologin analytics \
    && mkdir /app
COPY --from=build /src/build/release/analytics-api /usr/local/bin/analytics-api
# /app is the working directory, where the binary looks for an optional .env (mount one
# read-only there if you prefer a file to environment variables). Owned by root: the service
# writes nothing to disk, it logs JSON lines on stdout.
WORKDIR /app
USER 10001:10001
ENV APP_HOST=0.0.0.0 \
    APP_PORT=8000
EXPOSE 8000
# SIGTERM: /ready turns 503 and answers say `Connection: close` for SHUTDOWN_DRAIN_SECONDS (5 s),
# then the listeners close and requests in flight finish (up to HTTP_SHUTDOWN_TIMEOUT_SECONDS,
# 8 s; docker-compose.yml allows 15 s, beyond docker stop's default 10 s), exit status 0.
STOPSIGNAL SIGTERM
# Liveness: /health answers 200 whenever the process serves HTTP (status "degraded" while Redis
# is unreachable); readiness is GET /ready. Shell form so that a changed APP_PORT is followed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${APP_PORT}/health" || exit 1
ENTRYPOINT ["/usr/local/bin/analytics-api"]
