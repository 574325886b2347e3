"""Boot the arm64 card image on QEMU's generic arm64 machine ("virt", emulated: TCG).

Not a Raspberry Pi (QEMU has no Pi 4 machine, so the Pi's firmware, device tree and
cmdline.txt play no part: QEMU loads the image's own kernel and initramfs itself), but the
image's arm64 kernel, its short-list initramfs finding the root partition by its id, and
its whole arm64 userland, on a copy of the card grown by a gigabyte (as a larger card is).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import stop_process
from tests.image.nspawn import extent, sh


@dataclass
class Guest:
    ssh_port: int
    http_port: int
    console: Path
    process: subprocess.Popen[bytes] | None = None

    def said(self) -> str:
        return self.console.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def firmware_file(image: Path, pattern: str, dest: Path) -> None:
    """Copy one file (a glob such as `vmlinuz-*`) off the card's FAT partition."""
    offset, _ = extent(image, 1)
    fat = f"{image}@@{offset}"
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    listed = subprocess.run(
        ["mdir", "-i", fat, "-b", "::"], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    name = next(n.removeprefix("::/") for n in listed if Path(n).match(pattern))
    subprocess.run(["mcopy", "-i", fat, f"::{name}", str(dest)], check=True, env=env)


@contextlib.contextmanager
def booted(image: Path, work: Path, grow_mib: int = 1024) -> Iterator[Guest]:
    work.mkdir(parents=True)
    disk = work / "card.img"
    sh("cp", "--sparse=always", str(image), str(disk))
    with disk.open("r+b") as f:
        f.truncate(disk.stat().st_size + grow_mib * (1 << 20))
    firmware_file(image, "vmlinuz-*", work / "vmlinuz")
    firmware_file(image, "initrd.img-*", work / "initrd.img")
    guest = Guest(free_port(), free_port(), work / "console.log")
    forward = (
        f"hostfwd=tcp:127.0.0.1:{guest.ssh_port}-:22,hostfwd=tcp:127.0.0.1:{guest.http_port}-:8080"
    )
    qemu = subprocess.Popen(
        [
            shutil.which("qemu-system-aarch64") or "qemu-system-aarch64",
            "-machine", "virt", "-cpu", "cortex-a72", "-smp", "2", "-m", "2048",
            "-accel", "tcg,thread=multi", "-nographic", "-no-reboot",
            "-kernel", str(work / "vmlinuz"), "-initrd", str(work / "initrd.img"),
            # The Pi's cmdline.txt, but for this machine's console; rootwait as on a card.
            "-append", "root=PARTUUID=65646765-02 rw rootwait net.ifnames=0 console=ttyAMA0",
            "-drive", f"file={disk},format=raw,if=virtio",
            "-netdev", f"user,id=lan,{forward}",
            # No option ROM: the kernel is loaded directly (and Debian ships the ROMs apart).
            "-device", "virtio-net-pci,netdev=lan,romfile=",
        ],
        stdin=subprocess.DEVNULL,
        stdout=guest.console.open("wb"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    guest.process = qemu
    try:
        yield guest
    finally:
        stop_process(qemu)


def wait_until(what: str, check: object, timeout: float, guest: Guest) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        if guest.process is not None and guest.process.poll() is not None:
            raise RuntimeError(f"QEMU stopped before {what}:\n{guest.said()[-4000:]}")
        time.sleep(1)
    raise TimeoutError(f"{what} within {timeout:.0f} s; the console said:\n{guest.said()[-4000:]}")
