#!/usr/bin/env bash
# Make sure the base image of docker/Dockerfile exists: present, else pulled, else (for
# a Debian bookworm image, where no registry can be reached) made locally: a minimal
# bookworm by mmdebstrap, without manuals, documentation or translations like Docker's
# debian:bookworm-slim, imported with docker import under the same name.
#
#   docker/base-image.sh [IMAGE]          # IMAGE defaults to debian:bookworm-slim
#
# DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR choose where mmdebstrap downloads from.
set -euo pipefail
image=${1:-debian:bookworm-slim}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image is present"
    exit 0
fi
if docker pull "$image"; then
    exit 0
fi
case "$image" in
    debian:bookworm | debian:bookworm-slim | debian:12 | debian:12-slim) ;;
    *) echo "cannot pull $image, and only debian:bookworm(-slim) can be made here" >&2; exit 1 ;;
esac
command -v mmdebstrap >/dev/null || { echo "mmdebstrap not found: apt-get install mmdebstrap" >&2; exit 1; }

echo "cannot pull $image: making it with mmdebstrap from $mirror"
tarball=$(mktemp --suffix=.tar)
trap 'rm -f "$tarball"' EXIT
slim=()
case "$image" in
    *-slim)
        slim=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
              --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
              --dpkgopt='path-exclude=/usr/share/info/*')
        ;;
esac
mmdebstrap --variant=minbase "${slim[@]}" bookworm "$tarball" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
docker import --change 'CMD ["bash"]' --message "mmdebstrap --variant=minbase bookworm" "$tarball" "$image"
echo "$image made: $(docker image inspect --format '{{.Size}}' "$image") bytes"
