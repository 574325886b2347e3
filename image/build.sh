#!/usr/bin/env bash
# Builds the box's OS image for one architecture from the locked package versions.
#
#   image/build.sh arm64|amd64 OUT        (as root; `make image` and `make image-test` run it)
#
# arm64 is the Raspberry Pi 4 image; amd64 is its twin, the same recipe without the Pi's
# kernel and firmware, which the tests boot in a container. OUT receives:
#   rootfs.tar                  the root file system (sorted, mtimes clamped, numeric owners)
#   edge-box-ARCH.img           the card: 1 firmware (FAT), 2 root (ext4), 3 data (ext4)
#   edge-box-ARCH.img.zst       the same, compressed: what is written to a card
#   packages.txt, SHA256SUMS    what is inside, and the sha256 of each file here
#
# Environment: EDGE_IMAGE_CACHE  downloads, kept between builds (default /var/cache/edge-image;
#                                one folder per lock, checked against the lock at every use)
#              SOURCE_DATE_EPOCH every timestamp in the image (default: the last commit's time)
set -euo pipefail
usage="usage: image/build.sh arm64|amd64 OUT"
arch=${1:?$usage}
out=${2:?$usage}
case $arch in arm64 | amd64) ;; *) echo "$usage" >&2 && exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${EDGE_IMAGE_CACHE:-/var/cache/edge-image}
venv_python=${VENV_PYTHON:-$repo/.venv/bin/python}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct)}
export SOURCE_DATE_EPOCH LC_ALL=C.UTF-8 TZ=UTC PYTHONHASHSEED=0
umask 022

if [ "$(id -u)" -ne 0 ]; then
    echo "build.sh: run as root (packages are installed into a chroot)" >&2
    exit 1
fi
step() { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }

mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/var/tmp}/edge-image.XXXXXX")
# EDGE_IMAGE_KEEP=1 keeps the root file system folder, to look into a failed build.
[ "${EDGE_IMAGE_KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT

if [ "$arch" != "$(dpkg --print-architecture)" ]; then
    step "running $arch programs through qemu-user"
    "$here/binfmt.sh" "$arch"
fi

step "Debian packages for $arch (locked versions, signatures verified)"
debs=$cache/debian-$arch-$(sha256sum "$here/lock/debian-$arch.lock" | cut -c1-16)
python3 "$here/debs.py" fetch "$arch" "$debs"
python3 "$here/debs.py" pins "$arch" >"$work/pins.pref"
tools=$(python3 "$here/debs.py" tools "$cache")

step "the box's Python release (locked wheels, and this checkout's)"
"$venv_python" "$here/wheels.py" wheelhouse "$arch" "$cache/python" "$work/wheelhouse"

step "root file system"
include=$(grep -hv '^#' "$here/packages/common.txt" "$here/packages/$arch.txt" | paste -sd, -)
include=${include#,}
# Files that must be there before the first package is unpacked: dpkg's exclusions, and on
# arm64 the initramfs settings.
early=(--setup-hook="cp -r '$here/early/.' \"\$1/\"")
if [ -d "$here/early-$arch" ]; then
    early+=(--setup-hook="cp -r '$here/early-$arch/.' \"\$1/\"")
fi
# force-unsafe-io: no fsync for each unpacked file while building (customize.sh removes it,
# so the box's own updates stay safe against a power cut).
mmdebstrap --quiet --variant=apt --architectures="$arch" --include="$include" \
    --dpkgopt=force-unsafe-io \
    --setup-hook="mkdir -p \"\$1/etc/apt/preferences.d\" \"\$1/var/cache/apt/archives\"" \
    --setup-hook="cp '$work/pins.pref' \"\$1/etc/apt/preferences.d/edge-lock.pref\"" \
    --setup-hook="cp -l '$debs'/*.deb \"\$1/var/cache/apt/archives/\" 2>/dev/null || cp '$debs'/*.deb \"\$1/var/cache/apt/archives/\"" \
    "${early[@]}" \
    --customize-hook="'$here/customize.sh' \"\$1\" '$arch' '$work/wheelhouse'" \
    --customize-hook="python3 '$here/debs.py' check '$arch' \"\$1\"" \
    bookworm "$work/rootfs" "$here/sources.list"

step "card image"
"$here/assemble.sh" "$arch" "$work/rootfs" "$out" "$tools"

step "what the image promises"
python3 "$here/check_rootfs.py" "$arch" "$out/rootfs.tar"
step "done: $out"
