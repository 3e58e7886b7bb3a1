# Shared settings for the docker/ scripts (sourced, not run).
# State (dockerd pid and log, build logs) lives outside the repository, in one directory.
DATAMOAT_DOCKER_STATE="${DATAMOAT_DOCKER_STATE:-${TMPDIR:-/tmp}/datamoat-docker}"
DOCKER="${DOCKER:-docker}"
# Debian release of the offline base image, and the image names of the offline set.
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
BASE_IMAGE="${BASE_IMAGE:-datamoat-base:${DEBIAN_SUITE}}"
APP_IMAGE="${APP_IMAGE:-datamoat:local}"
BROKER_IMAGE="${BROKER_IMAGE:-datamoat-kafka:local}"
PROMETHEUS_IMAGE="${PROMETHEUS_IMAGE:-datamoat-prometheus:local}"
COMPOSE_VERSION="${COMPOSE_VERSION:-v5.6.0}"
COMPOSE_PLUGIN="${COMPOSE_PLUGIN:-${HOME}/.docker/cli-plugins/docker-compose}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$DATAMOAT_DOCKER_STATE"

log() { printf 'docker/%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "$*"; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "needs root ($1)"; }

# apt-get install the given packages when a command is missing; `apt-get update` runs once
# per boot of the state directory.
apt_install() {
    need_root "apt-get install $*"
    if [ ! -e "$DATAMOAT_DOCKER_STATE/apt-updated" ]; then
        log "apt-get update"
        apt-get update -qq >&2
        touch "$DATAMOAT_DOCKER_STATE/apt-updated"
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

engine_up() { "$DOCKER" info >/dev/null 2>&1; }
