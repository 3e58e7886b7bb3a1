#!/usr/bin/env bash
# The offline image set for docker-compose.offline.yml, built from the Debian base image
# (docker/base-image.sh) without any image registry:
#   datamoat:local             the repository's Dockerfile with BASE_IMAGE=the Debian base;
#                              Python dependencies from a wheelhouse pip downloads on the host
#   datamoat-kafka:local       Java 17 + the Kafka jars of `datamoat broker fetch` (.kafka/libs)
#   datamoat-prometheus:local  Debian's prometheus package
# apt-get runs inside the builds with the host network. Docker's layer cache makes a rebuild
# with nothing changed take seconds; only the app layers above the dependencies follow edits.
# Needs: a running engine (docker/engine.sh start) and the jars (make kafka-jars).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
LIBS="$REPO_ROOT/.kafka/libs"
[ -d "$LIBS" ] || die "no Kafka jars in $LIBS: run 'make kafka-jars' first"
"$(dirname "$0")/base-image.sh"

build() { # build <image> <context> [docker build args...]
    local image="$1" context="$2"
    shift 2
    local started=$SECONDS
    log "building $image"
    DOCKER_BUILDKIT=0 "$DOCKER" build --quiet --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -t "$image" "$@" "$context" >"$DATAMOAT_DOCKER_STATE/build-${image%%:*}.log" 2>&1 ||
        { tail -30 "$DATAMOAT_DOCKER_STATE/build-${image%%:*}.log" >&2; die "building $image failed"; }
    log "built $image in $((SECONDS - started)) s"
}

# Staging contexts hold only what each image needs (copied with their timestamps; the
# legacy builder's cache keys on file contents, so an unchanged copy reuses every layer).
stage="$DATAMOAT_DOCKER_STATE/context"
mkdir -p "$stage/app" "$stage/broker" "$stage/prometheus"

# --- app: sources, configs and a wheelhouse of the runtime dependencies (+ the build backend)
wheels="$stage/app/offline-wheels"
reqs="$(cd "$REPO_ROOT" && "$PYTHON" -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb')); print('\n'.join(d['project']['dependencies'] + d['project']['optional-dependencies']['jetstream'] + d['build-system']['requires']))")"
reqs_stamp="$(printf '%s\n' "$reqs" | sha256sum | cut -c1-16)"
if [ ! -f "$wheels/.stamp-$reqs_stamp" ]; then
    log "downloading the dependency wheels (host pip)"
    rm -rf "$wheels" && mkdir -p "$wheels"
    printf '%s\n' "$reqs" >"$stage/requirements.txt"
    "$PYTHON" -m pip download --quiet --dest "$wheels" --only-binary=:all: \
        --python-version 3.11 --implementation cp --abi cp311 --abi abi3 --abi none \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform any \
        -r "$stage/requirements.txt" >&2
    touch "$wheels/.stamp-$reqs_stamp"
fi
for item in Dockerfile pyproject.toml setup.py MANIFEST.in LICENSE README.md datamoat ingest process sinks configs; do
    rm -rf "${stage:?}/app/$item"
    cp -a "$REPO_ROOT/$item" "$stage/app/$item"
done
find "$stage/app" -name __pycache__ -prune -exec rm -rf {} +
build "$APP_IMAGE" "$stage/app"

# --- broker: the jars, the console logging config and the entrypoint
rm -rf "$stage/broker/libs"
cp -a "$LIBS" "$stage/broker/libs"
cp -a "$REPO_ROOT"/docker/broker/{Dockerfile,entrypoint.sh,log4j2.properties} "$stage/broker/"
build "$BROKER_IMAGE" "$stage/broker"

# --- prometheus
build "$PROMETHEUS_IMAGE" "$REPO_ROOT/docker/prometheus"
