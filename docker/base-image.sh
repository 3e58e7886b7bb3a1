#!/usr/bin/env bash
# The offline base image: a minimal Debian root filesystem (debootstrap --variant=minbase)
# imported with `docker import`. Skipped when the image exists. No registry is involved;
# debootstrap uses its default Debian mirror unless DEBIAN_MIRROR is set.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    exit 0
fi
need_root "debootstrap"
command -v debootstrap >/dev/null || apt_install debootstrap
rootfs="$DATAMOAT_DOCKER_STATE/rootfs-$DEBIAN_SUITE"
rm -rf "$rootfs"
log "debootstrap --variant=minbase $DEBIAN_SUITE (about half a minute)"
debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} \
    >"$DATAMOAT_DOCKER_STATE/debootstrap.log" 2>&1 ||
    { tail -20 "$DATAMOAT_DOCKER_STATE/debootstrap.log" >&2; die "debootstrap failed"; }
# Smaller and reproducible enough: no apt lists or caches in the image.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
tar -C "$rootfs" -c . | "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
rm -rf "$rootfs"
log "imported $BASE_IMAGE"
