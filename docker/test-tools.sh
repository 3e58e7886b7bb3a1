#!/usr/bin/env bash
# The tools the test suite drives, installed before any test runs, so that `CI=true make
# test` on a fresh machine skips nothing: promtool and Prometheus (Debian's `prometheus`),
# headless Chromium (`chromium`), the Docker CLI (`docker.io`) and Compose v2 (built from
# the Go module proxy by compose-cli.sh). Each is skipped when already there. Without root
# nothing is installed: the tests that need a missing tool skip with a one-line reason
# (and fail under CI=true).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
    log "not root: not installing promtool, chromium, docker.io or Compose v2"
    exit 0
fi
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v chromium >/dev/null || missing+=(chromium)
command -v "$DOCKER" >/dev/null || missing+=(docker.io)
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
"$(dirname "$0")/compose-cli.sh"
