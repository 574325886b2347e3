#!/usr/bin/env bash
# Lets this machine run another architecture's programs through qemu-user (binfmt_misc),
# which installing a foreign root file system needs. Usage: binfmt.sh arm64
set -euo pipefail
case ${1:?usage: binfmt.sh arm64} in
    arm64) handler=qemu-aarch64 ;;
    *) echo "binfmt.sh: no emulation known for $1" >&2 && exit 2 ;;
esac
# Not mounted by default on every machine (a container, a VM without systemd).
if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e "/proc/sys/fs/binfmt_misc/$handler" ]; then
    update-binfmts --enable "$handler"
fi
if ! arch-test "$1" >/dev/null; then
    echo "binfmt.sh: this machine cannot run $1 programs even through $handler" >&2
    exit 1
fi
