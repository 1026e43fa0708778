#!/usr/bin/env bash
# Installs every Debian package the build, the tests, the benchmarks and the scripts need, and the
# pinned npm packages of the API documentation (see the section at the end).
# Idempotent: prints nothing and exits 0 when everything is already present.
#
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --build    only what compiling the binary needs (the Docker build stage)
#   scripts/install-deps.sh --runtime  only what the built binary needs to run
#   scripts/install-deps.sh --fuzz     only clang and libFuzzer, for scripts/fuzz.sh (kept out of
#                                      the default set so the Docker build stage does not carry them)
set -euo pipefail

build_pkgs=(
    build-essential cmake ninja-build pkg-config git ca-certificates
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
    libhiredis-dev libspdlog-dev libfmt-dev libssl-dev
)
# Tests and benchmarks: GoogleTest and Google Benchmark, the servers they start (Redis, nginx as
# the HTTP ceiling), load generators, promtool (from prometheus) to lint /metrics, valgrind
# (callgrind counts instructions per request: bench/instructions.sh), the openssl command
# (the HTTPS upstream tests make their certificates with it), and luacheck (lua-check) for the
# Lua scripts Redis runs.
test_pkgs=(
    libgtest-dev libgmock-dev libbenchmark-dev
    redis-server redis-tools curl wrk procps nginx prometheus valgrind openssl lua-check
)
# ca-certificates is the system store an https:// EXTERNAL_SERVICE_URL is verified against when
# EXTERNAL_SERVICE_CA_FILE is unset.
runtime_pkgs=(
    libboost-json1.81.0 libboost-url1.81.0 libhiredis0.14 libspdlog1.10 libfmt9 libssl3
    ca-certificates curl
)

# The fuzz targets (fuzz/) need clang's -fsanitize=fuzzer: libFuzzer and the clang
# sanitizer runtimes are in libclang-rt-14-dev.
fuzz_pkgs=(clang libclang-rt-14-dev)

pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}")
if [[ "${1:-}" == "--build" ]]; then
    pkgs=("${build_pkgs[@]}")
elif [[ "${1:-}" == "--runtime" ]]; then
    pkgs=("${runtime_pkgs[@]}")
elif [[ "${1:-}" == "--fuzz" ]]; then
    pkgs=("${fuzz_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "install-deps: installing ${missing[*]}" >&2
    $sudo apt-get update -qq >/dev/null
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- API documentation and its browser test ------------------------------------------------------
# The build embeds Swagger UI and ReDoc from the npm packages pinned in tools/package.json
# (cmake/embed.cmake); ./test.sh lints docs/openapi.json and drives /docs and /redoc in Debian's
# Chromium with the tools pinned in tests/browser/package.json, and runs the service behind
# Stoplight Prism's validating proxy, pinned in tests/contract/package.json. Each folder that has a
# package-lock.json gets `npm ci` into its own node_modules, and again only when the lockfile
# changed (a stamp in node_modules records the one installed). A tree without those folders, such
# as the Docker image's dependency layer, which copies this script alone, needs none of it; nor
# does --runtime: the binary carries the documentation.
if [[ "${1:-}" == "--fuzz" ]]; then
    exit 0
fi
if [[ "${1:-}" != "--runtime" ]]; then
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    npm_dirs=()
    for dir in tools tests/browser tests/contract; do
        if [[ -f "$root/$dir/package-lock.json" ]]; then
            npm_dirs+=("$root/$dir")
        fi
    done
    docs_missing=()
    # Node.js may come from Debian (nodejs + npm) or from NodeSource (nodejs alone, npm
    # included): ask for the commands, not the packages, so neither replaces the other.
    if [[ ${#npm_dirs[@]} -gt 0 ]] && ! command -v npm >/dev/null; then
        docs_missing+=(nodejs npm)
    fi
    if [[ -f "$root/tests/browser/package-lock.json" ]] &&
        ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
        docs_missing+=(chromium)
    fi
    if [[ ${#docs_missing[@]} -gt 0 ]]; then
        echo "install-deps: installing ${docs_missing[*]}" >&2
        $sudo apt-get update -qq >/dev/null
        $sudo apt-get install -y -qq --no-install-recommends "${docs_missing[@]}" >/dev/null
    fi
    for dir in "${npm_dirs[@]}"; do
        stamp="$dir/node_modules/.install-deps-lock.sha256"
        want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
        if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
            continue
        fi
        echo "install-deps: npm ci in ${dir#"$root"/}" >&2
        # --ignore-scripts: no package here needs an install script, and two of ReDoc's and
        # Swagger UI's dependencies run telemetry or advertising from theirs. --omit=peer: ReDoc's
        # standalone bundle has React, MobX and styled-components compiled in.
        (cd "$dir" && npm ci --ignore-scripts --omit=peer --no-audit --no-fund --loglevel=error \
            >/dev/null)
        echo "$want" >"$stamp"
    done
fi
