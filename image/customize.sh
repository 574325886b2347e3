#!/usr/bin/env bash
# Turns the Debian tree mmdebstrap installed into the box's root file system: the image's
# files, the box's user and release, the first-boot units, and no secret of any kind.
# Run by build.sh as mmdebstrap's customize hook (as root, the chroot set up):
#   customize.sh ROOT ARCH WHEELHOUSE
set -euo pipefail
root=$1
arch=$2
wheelhouse=$3
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
say() { printf '%s    %s\n' "$(date +%T)" "$*" >&2; }

# A command inside the image (arm64 runs through qemu-user), with nothing of the build
# machine's environment but what makes its output reproducible.
in_root() {
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LC_ALL=C.UTF-8 TZ=UTC SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" PYTHONHASHSEED=0 "$@"
}

# The image's files, with their modes set here (0755 if executable in git, else 0644)
# rather than taken from however the checkout was made.
copy_tree() {
    local src=$1 file mode
    (cd "$src" && find . -type f | LC_ALL=C sort) | while read -r file; do
        mode=0644
        [ -x "$src/$file" ] && mode=0755
        install -D -m "$mode" "$src/$file" "$root/${file#./}"
    done
}
copy_tree "$here/rootfs"

# The build held every package at its locked version; the box takes Debian's security
# updates from here on (unattended-upgrades), so no pin stays behind. Nor does the build's
# dpkg option to skip fsync (mmdebstrap's --dpkgopt file).
rm -f "$root/etc/apt/preferences.d/edge-lock.pref" "$root/etc/dpkg/dpkg.cfg.d/99mmdebstrap"

# Never the build machine's name or resolver (mmdebstrap copies them in).
echo edge-box >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tedge-box\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
    >"$root/etc/hosts"
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

# No secret in the image: the SSH host keys that openssh-server's installation made are
# removed (each box makes its own at first boot: edge-ssh-hostkeys.service); the machine id
# is left empty and there is no random seed (mmdebstrap's reproducible clean-up).
rm -f "$root"/etc/ssh/ssh_host_*
rm -f "$root/var/lib/systemd/random-seed"

# Root keeps Debian's "*": no password can ever match it, and only an IT officer's key
# (added by pairing) logs in. Debian's first-boot wizard would ask for a root password on
# the console: never on a box.
systemctl --root="$root" --quiet mask systemd-firstboot.service

# The user the box's services run as: no password, no shell.
in_root useradd --system --user-group --home-dir /var/lib/edge --no-create-home \
    --shell /usr/sbin/nologin --comment "Office edge box" edge

# edge-release, edge-pair and the sshd drop-in, byte for byte as the fleet tool keeps them.
PYTHONPATH=$repo python3 -m provisioning.onbox "$root" >/dev/null

say "the box's release (edge-release install, inside the image)"
# The box's release, installed by edge-release itself inside the image with the image's
# python3, so it is laid out exactly as the fleet tool's upgrades lay out theirs.
stage=$root/var/tmp/edge-image
rm -rf "$stage"
mkdir -p "$stage/units"
cp -r "$wheelhouse" "$stage/wheelhouse"
cp "$repo"/systemd/*.service "$stage/units/"
# pip compiles nothing here (PIP_NO_COMPILE=0 is its --no-compile: pip takes its "no-"
# options' truth values from the environment the other way round). Its --target install
# compiles in a temporary folder, so each .pyc of the dependency layer would name
# /tmp/pip-target-<random>/... as its source: no two builds alike, tracebacks pointing
# nowhere. Everything is compiled once afterwards, where it is, hash-checked.
installed=$(in_root env PIP_NO_COMPILE=0 /usr/local/sbin/edge-release install \
    --wheelhouse /var/tmp/edge-image/wheelhouse --units /var/tmp/edge-image/units)
version=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])' <<<"$installed")
in_root /usr/local/sbin/edge-release switch "$version" --offline >/dev/null
say "compiling the release's Python"
in_root python3 -m compileall -q -f -j 0 --invalidation-mode checked-hash \
    /opt/edge/deps /opt/edge/releases
rm -rf "$stage"
say "release $version installed"

if [ "$arch" = arm64 ]; then
    # How the Pi boots: the root partition by its fixed id and the consoles, then
    # raspi-firmware's hook again so /boot/firmware's config.txt and cmdline.txt say so.
    install -m 0644 "$here/raspi-firmware.default" "$root/etc/default/raspi-firmware"
    in_root env DEB_MAINT_PARAMS=configure /etc/kernel/postinst.d/z50-raspi-firmware
    grep -q 'root=PARTUUID=65646765-02 ' "$root/boot/firmware/cmdline.txt"
fi

systemctl --root="$root" --quiet enable systemd-networkd.service edge-ssh-hostkeys.service \
    edge-pair-open.service edge-pairing-issue.service edge-firstboot.service \
    edge-grow-data.service

# What this image is, for `cat /etc/edge-box-image` on a box.
{
    echo "release=$version"
    echo "architecture=$arch"
    echo "commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
    echo "source_date_epoch=$SOURCE_DATE_EPOCH"
    echo "debian_lock_sha256=$(sha256sum "$here/lock/debian-$arch.lock" | cut -d' ' -f1)"
    echo "python_lock_sha256=$(sha256sum "$here/lock/python-$arch.txt" | cut -d' ' -f1)"
} >"$root/etc/edge-box-image"
