"""The arm64 image, booted on QEMU's emulated arm64 machine from a copy of its card grown by
a gigabyte: its own kernel and short-list initramfs find the root partition by its id, the
arm64 system comes up with nothing failed, the data partition grows to the end of the
disk, swap is zram, and an officer pairs it the way `edge-fleet pair` does, by checking
the pairing code on its console before trusting its host key. What this cannot show (a
Pi's firmware, device tree, SD card, USB and Ethernet) is listed in docs/image.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import httpx
import paramiko
import pytest

from edge.pairing import code_of_key
from tests.image.conftest import Builds
from tests.image.qemu import Guest, booted, wait_until
from tests.image.sshkeys import new_key

pytestmark = pytest.mark.image
CODE = re.compile(r"Pairing code: ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})")


@pytest.fixture(scope="module")
def guest(builds: Builds, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guest]:
    image = builds.get("arm64") / "edge-box-arm64.img"
    if shutil.which("qemu-system-aarch64") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("qemu-system-aarch64 is missing (Debian package qemu-system-arm)")
        pytest.skip("qemu-system-aarch64 is not installed")
    with booted(image, tmp_path_factory.mktemp("qemu") / "arm64") as g:
        yield g


class ShownCode(paramiko.MissingHostKeyPolicy):
    """Trust a host key only if its pairing code is the one the box shows on its console:
    the check `edge-fleet pair` makes. Remembers the key it accepted."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.key: paramiko.PKey | None = None

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        if code_of_key(key.asbytes()) != self.code:
            raise paramiko.SSHException(
                f"host key code {code_of_key(key.asbytes())} is not the one shown"
            )
        self.key = key


def connect(c: paramiko.SSHClient, guest: Guest, key: paramiko.PKey) -> None:
    c.connect("127.0.0.1", guest.ssh_port, "root", pkey=key, look_for_keys=False,
              allow_agent=False, timeout=60, banner_timeout=60, auth_timeout=60)  # fmt: skip


class Session:
    """The paired officer's SSH, the box's host key pinned."""

    def __init__(self, guest: Guest, key: paramiko.PKey, host_key: paramiko.PKey) -> None:
        self.guest, self.key, self.host_key = guest, key, host_key

    def run(self, command: str, timeout: float = 300) -> str:
        with paramiko.SSHClient() as c:
            name = f"[127.0.0.1]:{self.guest.ssh_port}"
            c.get_host_keys().add(name, "ssh-ed25519", self.host_key)
            c.set_missing_host_key_policy(paramiko.RejectPolicy())
            connect(c, self.guest, self.key)
            stdin, out, err = c.exec_command(command, timeout=timeout)
            stdin.channel.shutdown_write()
            return out.read().decode() + err.read().decode()


def pair(guest: Guest, policy: ShownCode, key: paramiko.PKey) -> dict[str, Any]:
    """One pairing login: any command is replaced by `edge-pair pair` (the forced command)."""
    with paramiko.SSHClient() as c:
        c.set_missing_host_key_policy(policy)
        connect(c, guest, key)
        stdin, out, _ = c.exec_command("pair", timeout=300)
        stdin.write(json.dumps({"officer": "image-test"}))
        stdin.channel.shutdown_write()
        answer: dict[str, Any] = json.loads(out.read().decode().strip().splitlines()[-1])
        return answer


@pytest.fixture(scope="module")
def officer(guest: Guest) -> Session:
    """Paired as an officer pairs a box: the code read off the console, the host key checked
    against it before anything is sent, then the officer's key installed by edge-pair."""
    found: list[str] = []

    def code_shown() -> bool:
        found[:] = CODE.findall(guest.said())
        return bool(found)

    wait_until("the pairing code on the console", code_shown, 900, guest)
    policy, key = ShownCode(found[-1]), new_key()
    deadline = time.monotonic() + 600
    while True:
        # sshd may not listen yet, and edge-pair refuses until the first start has finished
        # (emulated, `edge init` takes a while): the officer tries again, as edge-fleet does.
        try:
            answer = pair(guest, policy, key)
            if answer["ok"] or "first start" not in answer.get("error", ""):
                break
        except (paramiko.SSHException, OSError, EOFError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            break
        time.sleep(3)
    assert answer["ok"] is True, answer
    assert policy.key is not None
    return Session(guest, key, policy.key)


def test_the_arm64_system_reaches_running_with_no_failed_unit(officer: Session) -> None:
    state = officer.run("timeout 900 systemctl is-system-running --wait", timeout=920)
    failed = officer.run("systemctl --failed --no-legend --plain")
    assert state.strip() == "running", failed
    assert officer.run("uname -m; python3 --version").split() == ["aarch64", "Python", "3.11.2"]


def test_the_initramfs_found_the_root_partition_by_its_id(officer: Session) -> None:
    assert officer.run("findmnt -no SOURCE /").strip() == "/dev/vda2"
    assert "root=PARTUUID=65646765-02" in officer.run("cat /proc/cmdline")


def test_the_data_partition_grew_to_the_end_of_the_disk(officer: Session) -> None:
    sizes = officer.run("lsblk -bdno SIZE /dev/vda /dev/vda3; df -B1 --output=size /var/lib/edge")
    disk, part, _, fs = sizes.split()
    start = int(officer.run("cat /sys/class/block/vda3/start")) * 512
    assert start + int(part) == int(disk)  # to the very end of the grown card
    assert int(fs) > 1400 * (1 << 20)  # 512 MiB in the image, plus the gigabyte added
    assert "growing /dev/vda3" in officer.run("journalctl -b -u edge-grow-data --no-pager")


def test_swap_is_zram_only(officer: Session) -> None:
    assert officer.run("swapon --show=NAME --noheadings").split() == ["/dev/zram0"]


def test_the_box_serves_and_shows_no_code_once_paired(officer: Session) -> None:
    answer = httpx.get(f"http://127.0.0.1:{officer.guest.http_port}/readyz", timeout=30)
    assert answer.status_code == 200, answer.text
    assert officer.run("test -e /etc/issue.d/edge-pairing.issue && echo shown").strip() == ""
    assert officer.run("systemctl is-active systemd-timesyncd edge-web edge-worker").split() == [
        "active",
        "active",
        "active",
    ]
