"""Boot the amd64 card image in a container, on a network of its own.

The box boots the image's own partitions: its root file system (partition 2, mounted
read-only from the image, with a throw-away layer on top, so every boot is a first boot)
and a fresh copy of its data partition (3) at /var/lib/edge. It gets its address from a
DHCP server on a veth pair, as in an office, and the test reaches it over that link.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1 << 20


def sh(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def partitions(image: Path) -> dict[str, Any]:
    """The image's partition table, as sfdisk reads it (offsets in sectors of 512 bytes)."""
    table: dict[str, Any] = json.loads(sh("sfdisk", "--json", str(image)))["partitiontable"]
    return table


def extent(image: Path, number: int) -> tuple[int, int]:
    """(offset, size) in bytes of partition `number` (1-based)."""
    part = partitions(image)["partitions"][number - 1]
    return part["start"] * 512, part["size"] * 512


@dataclass
class Box:
    address: str  # its IPv4 address from DHCP
    pid: int  # the container's init, as the host sees it
    console: Path

    def path(self, inside: str) -> Path:
        """A file of the running box, read from the host (like reading its screen)."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")


def wait_for(what: str, check: object, timeout: float, console: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.25)
    tail = console.read_text(errors="replace")[-3000:] if console.exists() else ""
    raise TimeoutError(f"{what} within {timeout:.0f} s; the console said:\n{tail}")


@contextlib.contextmanager
def booted(image: Path, work: Path, index: int, authorized_key: str) -> Iterator[Box]:
    """The image booted in systemd-nspawn. `authorized_key` is the test's own way in, as
    root's ~/.ssh/authorized_keys of this boot only: the image itself has no key at all
    (pairing adds the officer's to /etc/edge/ssh/authorized_keys, which stays untouched)."""
    work.mkdir(parents=True)
    root, data = work / "root", work / "data"
    root.mkdir()
    data.mkdir()
    keys = work / "authorized_keys"
    keys.write_text(authorized_key + "\n")
    keys.chmod(0o644)
    netns, host_if, subnet = f"edgeimg{index}", f"vimg{index}", f"10.77.{index}"
    with contextlib.ExitStack() as undo:
        offset, size = extent(image, 2)
        sh("mount", "-o", f"loop,ro,offset={offset},sizelimit={size}", str(image), str(root))
        undo.callback(sh, "umount", "-l", str(root))
        offset, size = extent(image, 3)
        copy = work / "data.img"
        sh("dd", f"if={image}", f"of={copy}", "bs=1M", f"skip={offset // MIB}",
           f"count={size // MIB}", "status=none")  # fmt: skip
        sh("mount", "-o", "loop", str(copy), str(data))
        undo.callback(sh, "umount", "-l", str(data))

        # Left over from an interrupted run: gone first.
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        sh("ip", "netns", "add", netns)
        undo.callback(sh, "ip", "netns", "del", netns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", netns)
        sh("ip", "addr", "add", f"{subnet}.1/24", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        leases = work / "leases"
        dhcp = subprocess.Popen(
            ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
             "--no-resolv", "--no-hosts", f"--interface={host_if}", "--bind-interfaces",
             f"--dhcp-range={subnet}.50,{subnet}.59,255.255.255.0,1h",
             f"--dhcp-leasefile={leases}", f"--pid-file={work / 'dnsmasq.pid'}",
             f"--log-facility={work / 'dnsmasq.log'}", "--user=root", "--group=root"],
        )  # fmt: skip
        undo.callback(_stop, dhcp, signal.SIGTERM, 10)

        console = work / "console.log"
        nspawn = subprocess.Popen(
            [
                "systemd-nspawn", "--boot", "--quiet", "--directory", str(root),
                # PID 1 here is not systemd: no machine registration, no scope of its own.
                "--register=no", "--keep-unit",
                # A throw-away layer over the read-only root: each boot is a first boot.
                "--volatile=overlay",
                f"--network-namespace-path=/run/netns/{netns}",
                # networkd starts only with it (a real box has every capability).
                "--capability=CAP_NET_ADMIN",
                f"--bind={data}:/var/lib/edge",
                f"--bind-ro={keys}:/root/.ssh/authorized_keys",
                "--console=read-only",
            ],
            stdin=subprocess.DEVNULL,
            stdout=console.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        # SIGTERM makes nspawn shut the box down in order.
        undo.callback(_stop, nspawn, signal.SIGTERM, 60)

        pid = 0

        def container_init() -> bool:
            nonlocal pid
            if nspawn.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited: {console.read_text()[-3000:]}")
            children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children")
            found = children.read_text().split() if children.exists() else []
            pid = int(found[0]) if found else 0
            return pid > 0

        wait_for("the container's init started", container_init, 60, console)

        def leased() -> bool:
            return leases.exists() and bool(leases.read_text().strip())

        wait_for("the box asked for an address (DHCP)", leased, 240, console)
        address = leases.read_text().split()[2]
        yield Box(address, pid, console)


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
