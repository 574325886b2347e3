#!/usr/bin/env bash
# Makes the card image from a finished root file system, with nothing mounted and every
# byte reproducible: the same tree and SOURCE_DATE_EPOCH give the same files on any Debian
# bookworm machine (mke2fs is the locked one from TOOLS, see debs.py).
#   assemble.sh ARCH ROOTFS OUT TOOLS
#
# The card (MBR, disk identifier 0x65646765, so /etc/fstab and cmdline.txt name partitions
# by PARTUUID=65646765-0N):
#   1  firmware  FAT32  256 MiB  /boot/firmware: the Pi's firmware, kernel, initramfs, DTBs
#   2  root      ext4     3 GiB  the system, and room for kernel updates and 3 releases
#   3  data      ext4   512 MiB  /var/lib/edge: journal and keys; grown to the end of the
#                                card at first boot (edge-grow-data.service)
set -euo pipefail
arch=$1
rootfs=$2
out=$3
tools=$4
here=$(cd "$(dirname "$0")" && pwd)
: "${SOURCE_DATE_EPOCH:?}"
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH MKE2FS_CONFIG=$here/mke2fs.conf
export MTOOLS_SKIP_CHECK=1

DISK_ID=65646765
FIRMWARE_START=4 FIRMWARE_MIB=256
ROOT_START=$((FIRMWARE_START + FIRMWARE_MIB)) ROOT_MIB=3072
DATA_START=$((ROOT_START + ROOT_MIB)) DATA_MIB=512
TOTAL_MIB=$((DATA_START + DATA_MIB))

work=$(mktemp -d "${TMPDIR:-/var/tmp}/edge-assemble.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The root file system as one tar: sorted, owners as numbers, every mtime at most
# SOURCE_DATE_EPOCH, no access or change times, extended attributes kept (not ACLs: the
# only one, on /var/log/journal, is set again by systemd-tmpfiles at boot).
tar --create --file="$out/rootfs.tar" --directory="$rootfs" --sort=name --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --numeric-owner \
    --xattrs --xattrs-include='*' --xattrs-exclude='system.posix_acl_*' .

# The card: the partition table first, then each file system made in place.
img=$out/edge-box-$arch.img
rm -f "$img" "$img.zst"
truncate -s "${TOTAL_MIB}M" "$img"
mib=2048 # sectors of 512 bytes
sfdisk --quiet "$img" <<EOF
label: dos
label-id: 0x$DISK_ID
unit: sectors
start=$((FIRMWARE_START * mib)), size=$((FIRMWARE_MIB * mib)), type=c, bootable
start=$((ROOT_START * mib)), size=$((ROOT_MIB * mib)), type=83
start=$((DATA_START * mib)), size=$((DATA_MIB * mib)), type=83
EOF

# ext4 LABEL N START_MIB SIZE_MIB TAR: partition N's file system, from a tar.
ext4() {
    LD_LIBRARY_PATH=$(echo "$tools"/lib/*-linux-gnu*) "$tools/sbin/mke2fs" -q -t ext4 \
        -T default -e remount-ro -L "$1" -U "$DISK_ID-0000-4000-8000-00000000000$2" \
        -E "hash_seed=$DISK_ID-0000-4000-8000-0000000000f$2,nodiscard,offset=$(($3 * 1048576))" \
        -d "$5" "$img" "${4}M"
}

# 2: root. The firmware files live on partition 1 (mounted over /boot/firmware).
cp "$out/rootfs.tar" "$work/root.tar"
firmware_files=no
if tar --list --file="$out/rootfs.tar" --wildcards './boot/firmware/?*' >/dev/null 2>&1; then
    firmware_files=yes
    tar --delete --file="$work/root.tar" --wildcards './boot/firmware/?*'
fi
ext4 root 2 "$ROOT_START" "$ROOT_MIB" "$work/root.tar"
rm "$work/root.tar"

# 3: data, empty, its top folder the box user's alone (as the units want it).
ids=$(awk -F: '$1 == "edge" {print $3 ":" $4}' "$rootfs/etc/passwd")
mkdir -m 0700 "$work/data"
tar --create --file="$work/data.tar" --directory="$work/data" --numeric-owner \
    --owner="${ids%:*}" --group="${ids#*:}" --mtime="@$SOURCE_DATE_EPOCH" .
ext4 data 3 "$DATA_START" "$DATA_MIB" "$work/data.tar"

# 1: firmware. Files and folders copied one by one in sorted order, with their (clamped)
# mtimes; --invariant fixes the volume id and the other fields mkfs.fat would vary.
fw=$work/firmware/boot/firmware
mkdir -p "$fw"
if [ "$firmware_files" = yes ]; then
    tar --extract --file="$out/rootfs.tar" --directory="$work/firmware" --wildcards \
        './boot/firmware/?*'
else
    printf '%s\n' "The Raspberry Pi's firmware and kernel go here in the arm64 image; this" \
        "$arch image keeps the same layout." >"$fw/README.txt"
    touch -d "@$SOURCE_DATE_EPOCH" "$fw/README.txt"
fi
fat=$img@@$((FIRMWARE_START * 1048576))
# 2 KiB clusters: enough of them for FAT32 (mtools takes fewer than 65525 for FAT16).
if ! mkfs.vfat -F 32 -s 4 -n RASPIFIRM --invariant --offset=$((FIRMWARE_START * mib)) \
    "$img" $((FIRMWARE_MIB * 1024)) >"$work/mkfs.vfat.log" 2>&1; then
    cat "$work/mkfs.vfat.log" >&2
    exit 1
fi
(cd "$fw" && find . -mindepth 1 | LC_ALL=C sort) >"$work/firmware.list"
while read -r entry; do
    entry=${entry#./}
    if [ -d "$fw/$entry" ]; then
        mmd -i "$fat" "::$entry"
    else
        mcopy -m -i "$fat" "$fw/$entry" "::$entry"
    fi
done <"$work/firmware.list"
# mtools can say "No directory slots" and still succeed: count what arrived.
copied=$(mdir -i "$fat" -/ -b :: | wc -l)
if [ "$copied" -ne "$(wc -l <"$work/firmware.list")" ]; then
    echo "assemble.sh: $copied of $(wc -l <"$work/firmware.list") firmware files arrived" >&2
    exit 1
fi

zstd --quiet -T2 "$img" -o "$img.zst"

# What is inside, and the checksums.
dpkg-query --admindir="$rootfs/var/lib/dpkg" -W -f='${Package} ${Version} ${Architecture}\n' |
    LC_ALL=C sort >"$out/packages.txt"
release=$(readlink "$rootfs/opt/edge/current")
python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))
print("\n".join(f"python {n} {s}" for n, s in sorted(m["wheels"].items())))' \
    "$rootfs/opt/edge/$release/edge-release.json" >>"$out/packages.txt"
(cd "$out" && sha256sum rootfs.tar "edge-box-$arch.img" "edge-box-$arch.img.zst" \
    packages.txt >SHA256SUMS)
