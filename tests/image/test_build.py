"""The built images: two amd64 builds from the same lock are byte-identical, both
architectures keep what the image promises (image/check_rootfs.py), and the card's layout is
what /etc/fstab and the Pi's command line expect."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from image import check_rootfs, tardiff
from image.debs import sha256_of
from tests.image.conftest import Builds
from tests.image.nspawn import partitions

pytestmark = pytest.mark.image

COMPARED = ("rootfs.tar", "edge-box-amd64.img", "edge-box-amd64.img.zst", "packages.txt")


def test_two_builds_from_the_same_lock_are_byte_identical(builds: Builds) -> None:
    """Two complete, separate amd64 builds (each from mmdebstrap on): the root file system
    tar, the card image, the compressed card image and the package list compare equal by
    sha256. (The second build takes its downloads from the cache the first one filled.)"""
    a, b = builds.get("amd64-a"), builds.get("amd64-b")
    for name in COMPARED:
        if sha256_of(a / name) != sha256_of(b / name):
            diff = tardiff.differences(a / "rootfs.tar", b / "rootfs.tar")
            pytest.fail(f"{name} differs between two builds; the root file systems:\n"
                        + "\n".join(diff[:40]))  # fmt: skip
    assert (a / "SHA256SUMS").read_text() == (b / "SHA256SUMS").read_text()


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
@pytest.mark.parametrize("check", check_rootfs.CHECKS, ids=lambda c: c.__name__)
def test_the_image_keeps_its_promises(builds: Builds, arch: str, check: check_rootfs.Check) -> None:
    out = builds.get("amd64-a" if arch == "amd64" else "arm64")
    tree = check_rootfs.Tree.open(arch, out / "rootfs.tar")
    try:
        assert check(tree) == [], check_rootfs.title(check)
    finally:
        tree.close()


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_the_card_has_firmware_root_and_data_partitions(builds: Builds, arch: str) -> None:
    out = builds.get("amd64-a" if arch == "amd64" else "arm64")
    image = out / f"edge-box-{arch}.img"
    table = partitions(image)
    assert table["label"] == "dos" and table["id"] == f"0x{check_rootfs.DISK_ID}"
    types = [(p["type"], p.get("bootable", False)) for p in table["partitions"]]
    assert types == [("c", True), ("83", False), ("83", False)]
    first, second, third = table["partitions"]
    assert first["start"] + first["size"] <= second["start"]
    assert second["start"] + second["size"] <= third["start"]
    # The data partition is last, so the first boot can grow it to the end of the card.
    assert third["start"] + third["size"] == image.stat().st_size // 512
    # Each file system is there, labelled, at its partition's offset.
    blkid = {n: probe(image, p["start"] * 512) for n, p in enumerate(table["partitions"], 1)}
    assert "TYPE=vfat" in blkid[1] and "LABEL=RASPIFIRM" in blkid[1]
    assert "TYPE=ext4" in blkid[2] and "LABEL=root" in blkid[2]
    assert "TYPE=ext4" in blkid[3] and "LABEL=data" in blkid[3]
    # Each ext4 file system fills its partition (no space lost, none overlapping).
    for part in (second, third):
        assert ext4_size(image, part["start"] * 512) == part["size"] * 512


def ext4_size(image: Path, offset: int) -> int:
    """The size in bytes an ext4 superblock gives its file system."""
    with image.open("rb") as f:
        f.seek(offset + 1024)
        sb = f.read(1024)
    assert sb[0x38:0x3A] == b"\x53\xef", "no ext4 superblock there"
    blocks = int.from_bytes(sb[4:8], "little") | int.from_bytes(sb[0x150:0x154], "little") << 32
    return blocks * (1024 << int.from_bytes(sb[24:28], "little"))


def probe(image: Path, offset: int) -> str:
    """What blkid finds at `offset` of the image: type, label, UUID."""
    command = ["blkid", "-p", "-o", "export", "-O", str(offset), str(image)]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def test_the_pi_firmware_partition_holds_what_the_pi_boots_from(builds: Builds) -> None:
    image = builds.get("arm64") / "edge-box-arm64.img"
    offset = partitions(image)["partitions"][0]["start"] * 512
    listed = subprocess.run(
        ["mdir", "-i", f"{image}@@{offset}", "-b", "::"],
        capture_output=True, text=True, check=True, env={"MTOOLS_SKIP_CHECK": "1"},
    ).stdout  # fmt: skip
    names = {line.removeprefix("::/") for line in listed.split()}
    wanted = {"start4.elf", "fixup4.dat", "config.txt", "cmdline.txt", "bcm2711-rpi-4-b.dtb"}
    assert wanted <= names
    assert any(n.startswith("vmlinuz-") for n in names)
    assert any(n.startswith("initrd.img-") for n in names)
