#!/usr/bin/env bash
# Makes the images that the Dockerfile and docker-compose.yml name available to the Docker
# engine, for machines where no registry can be reached:
#   - debian:bookworm and debian:bookworm-slim: pulled, or else built with debootstrap from the
#     machine's own Debian mirror and loaded with `docker import`;
#   - the Redis image (REDIS_IMAGE, default redis:7-alpine): pulled, or else stood in for by an
#     image built from docker/redis-standin/Dockerfile (Debian's redis-server) under that name.
# Images already present are left alone. Needs root (or sudo) only when debootstrap has to run.
#
#   docker/local-images.sh           pull what is missing, build what cannot be pulled
#   docker/local-images.sh --check   exit 0 when every image is present, 1 otherwise
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# The same name docker-compose.yml uses: REDIS_IMAGE from the environment or .env.
redis_image=$(dotenv_get REDIS_IMAGE redis:7-alpine)
bases=(debian:bookworm debian:bookworm-slim)

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if [[ "${1:-}" == "--check" ]]; then
    for image in "${bases[@]}" "$redis_image"; do
        have_image "$image" || exit 1
    done
    exit 0
fi

try_pull() {
    echo "local-images: pulling $1" >&2
    timeout 300 docker pull -q "$1" >/dev/null 2>&1
}

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"

# The Debian mirror this machine's apt uses: the first `URIs:` (deb822) or `deb` line for the
# bookworm suite, else deb.debian.org. DEBOOTSTRAP_MIRROR overrides it.
debian_mirror() {
    if [[ -n "${DEBOOTSTRAP_MIRROR:-}" ]]; then
        echo "$DEBOOTSTRAP_MIRROR"
        return
    fi
    local m=""
    m=$(awk '
        /^[[:space:]]*$/ { if (uri != "" && suite) { print uri; exit } uri = ""; suite = 0; next }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") suite = 1 }
        END { if (uri != "" && suite) print uri }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1) || true
    if [[ -z "$m" && -f /etc/apt/sources.list ]]; then
        m=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list) || true
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

security_mirror() {
    local m=""
    m=$(awk '
        /^[[:space:]]*$/ { if (uri != "" && suite) { print uri; exit } uri = ""; suite = 0; next }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm-security") suite = 1 }
        END { if (uri != "" && suite) print uri }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1) || true
    echo "${m:-http://deb.debian.org/debian-security}"
}

# debian:bookworm and debian:bookworm-slim from one debootstrap run, laid out like the official
# images: deb822 sources with updates and security, apt's docker-clean settings, CMD bash; the
# slim one without documentation, manual pages and locales (the official slim's dpkg excludes).
build_debian_bases() {
    if ! command -v debootstrap >/dev/null; then
        echo "local-images: installing debootstrap" >&2
        $sudo apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            debootstrap >/dev/null
    fi
    local mirror security rootfs
    mirror=$(debian_mirror)
    security=$(security_mirror)
    work=$(mktemp -d /tmp/local-images.XXXXXX)
    trap '$sudo rm -rf "$work"' EXIT
    rootfs="$work/rootfs"
    echo "local-images: debootstrap bookworm from $mirror (about a minute)" >&2
    $sudo debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        return 1
    }

    $sudo rm -f "$rootfs/etc/apt/sources.list"
    $sudo tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<SOURCES
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    $sudo tee "$rootfs/etc/apt/apt.conf.d/docker-clean" >/dev/null <<'APTCONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APTCONF
    echo 'Acquire::Languages "none";' | $sudo tee "$rootfs/etc/apt/apt.conf.d/docker-no-languages" >/dev/null
    echo 'Acquire::GzipIndexes "true";' | $sudo tee "$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes" >/dev/null
    $sudo sh -c "rm -rf '$rootfs'/var/lib/apt/lists/* '$rootfs'/var/cache/apt/*.bin \
        '$rootfs'/var/cache/apt/archives/*.deb '$rootfs'/var/log/*.log '$rootfs'/tmp/* \
        '$rootfs'/etc/hostname '$rootfs'/etc/resolv.conf; : >'$rootfs/etc/machine-id'"

    import_rootfs() {
        have_image "$1" && return 0
        $sudo tar --numeric-owner --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* \
            -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$1" >/dev/null
        echo "local-images: imported $1 ($(docker image inspect -f '{{.Size}}' "$1" \
            | awk '{printf "%.0f MB", $1 / 1e6}'))" >&2
    }
    import_rootfs debian:bookworm

    $sudo tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
DPKG
    $sudo sh -c "cd '$rootfs/usr/share' && \
        find doc -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null; \
        find doc -mindepth 1 -type d -empty -delete 2>/dev/null; \
        rm -rf man/* groff/* info/* lintian/* linda/*; \
        find locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null; true"
    import_rootfs debian:bookworm-slim
}

missing_base=0
for image in "${bases[@]}"; do
    if ! have_image "$image" && ! try_pull "$image"; then
        missing_base=1
    fi
done
if [[ $missing_base -eq 1 ]]; then
    echo "local-images: debian:bookworm images cannot be pulled; building them locally" >&2
    build_debian_bases
fi

if ! have_image "$redis_image" && ! try_pull "$redis_image"; then
    echo "local-images: $redis_image cannot be pulled; building a stand-in from" \
         "docker/redis-standin (Debian's redis-server) tagged $redis_image" >&2
    docker build -q -t "$redis_image" \
        --label "org.opencontainers.image.description=local stand-in for $redis_image" \
        docker/redis-standin >/dev/null
fi
