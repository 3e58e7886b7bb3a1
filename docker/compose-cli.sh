#!/usr/bin/env bash
# Compose v2 as a docker CLI plugin, built from source when `docker compose` is missing.
# Debian ships only docker-compose 1.29 (it rejects the top-level `name:`), and no image or
# release download is needed: the Go module proxy serves the compose module. `go install`
# refuses the module (exclude directives), so it is built in a writable copy of its source.
# The built binary is cached in the state directory and reinstalled from there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if "$DOCKER" compose version >/dev/null 2>&1; then
    exit 0
fi
CACHED="$DATAMOAT_DOCKER_STATE/docker-compose-$COMPOSE_VERSION"
if [ ! -x "$CACHED" ]; then
    command -v go >/dev/null || die "needs the Go toolchain to build Compose $COMPOSE_VERSION"
    log "building Compose $COMPOSE_VERSION from the Go module proxy (about a minute)"
    dir="$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
    src="$DATAMOAT_DOCKER_STATE/compose-src"
    rm -rf "$src"
    cp -r "$dir" "$src"
    chmod -R u+w "$src"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$CACHED.tmp" \
        -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" ./cmd)
    mv "$CACHED.tmp" "$CACHED"
    rm -rf "$src"
fi
mkdir -p "$(dirname "$COMPOSE_PLUGIN")"
install -m 0755 "$CACHED" "$COMPOSE_PLUGIN"
"$DOCKER" compose version >&2
