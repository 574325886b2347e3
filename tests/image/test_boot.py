"""The amd64 twin of the box's image, booted from its card image in systemd-nspawn, twice at
once (two offices' first boots): the system comes up with nothing failed, serves the office
network, takes an IT officer's key over SSH and never a password, and each box made its own
keys. (QEMU without KVM is no option here, and KVM hangs on this machine.)"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paramiko
import pytest

from edge.pairing import code_of_line
from tests.image.conftest import Builds
from tests.image.nspawn import Box, booted
from tests.image.sshkeys import new_key, public_line

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def officer() -> paramiko.PKey:
    return new_key()


@pytest.fixture(scope="module")
def boxes(
    builds: Builds, tmp_path_factory: pytest.TempPathFactory, officer: paramiko.PKey
) -> Iterator[list[Box]]:
    image = builds.get("amd64-a") / "edge-box-amd64.img"
    work = tmp_path_factory.mktemp("boot")
    with (
        booted(image, work / "one", 1, public_line(officer)) as one,
        booted(image, work / "two", 2, public_line(officer)) as two,
    ):
        for box in (one, two):
            wait_for_file(box, "/etc/ssh/ssh_host_ed25519_key.pub", 180)
        yield [one, two]


def wait_for_file(box: Box, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not box.path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear on the box: {box.console.read_text()}")
        time.sleep(0.25)


def host_key(box: Box) -> paramiko.PKey:
    """The box's SSH host key, read from the box itself (as an officer reads its screen):
    the only key the client accepts. Never trust on first use."""
    line = box.path("/etc/ssh/ssh_host_ed25519_key.pub").read_text().split()
    return paramiko.Ed25519Key(data=base64.b64decode(line[1]))


def client(box: Box) -> paramiko.SSHClient:
    c = paramiko.SSHClient()
    c.get_host_keys().add(box.address, "ssh-ed25519", host_key(box))
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    return c


def ssh(box: Box, key: paramiko.PKey, command: str, timeout: float = 120) -> tuple[int, str]:
    with client(box) as c:
        c.connect(box.address, username="root", pkey=key, look_for_keys=False,
                  allow_agent=False, timeout=30, banner_timeout=30, auth_timeout=30)  # fmt: skip
        stdin, out, err = c.exec_command(command, timeout=timeout)
        stdin.channel.shutdown_write()  # nothing to say: a program reading its input ends
        text = out.read().decode() + err.read().decode()
        return out.channel.recv_exit_status(), text


@pytest.fixture(scope="module")
def running(boxes: list[Box], officer: paramiko.PKey) -> list[Box]:
    """Both boxes once systemd says the boot has finished."""
    for box in boxes:
        deadline = time.monotonic() + 180  # a loaded CI machine boots slowly
        while True:  # sshd may still be starting when the host key appears
            try:
                ssh(box, officer, "true")
                break
            except (paramiko.SSHException, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        ssh(box, officer, "timeout 400 systemctl is-system-running --wait", timeout=420)
    return boxes


def test_the_box_reaches_running_with_no_failed_unit(
    running: list[Box], officer: paramiko.PKey
) -> None:
    for box in running:
        _, state = ssh(box, officer, "systemctl is-system-running")
        _, failed = ssh(box, officer, "systemctl --failed --no-legend --plain")
        assert state.strip() == "running", failed
        assert failed.strip() == ""
        _, active = ssh(box, officer, "systemctl is-active edge-web edge-worker ssh")
        assert active.split() == ["active", "active", "active"]


def test_readyz_answers_on_the_office_network(running: list[Box]) -> None:
    for box in running:
        answer = httpx.get(f"http://{box.address}:8080/readyz", timeout=10)
        assert answer.status_code == 200, answer.text


def test_ssh_takes_the_officers_key_with_the_host_key_pinned(
    running: list[Box], officer: paramiko.PKey
) -> None:
    code, out = ssh(running[0], officer, "id -u")
    assert (code, out.strip()) == (0, "0")
    # The other box's host key is not this one's: a client pinned to it refuses to talk.
    c = client(running[0])
    c.get_host_keys().add(running[0].address, "ssh-ed25519", host_key(running[1]))
    with pytest.raises(paramiko.BadHostKeyException):
        c.connect(running[0].address, username="root", pkey=officer, look_for_keys=False,
                  allow_agent=False, timeout=30)  # fmt: skip
    c.close()


def test_ssh_refuses_any_password(running: list[Box]) -> None:
    box = running[0]
    for user in ("root", "edge", "pi", "iiab-admin"):
        transport = paramiko.Transport((box.address, 22))
        try:
            transport.connect(hostkey=host_key(box))  # the pinned key, checked by paramiko
            with pytest.raises(paramiko.BadAuthenticationType) as offered:
                transport.auth_none(user)
            assert offered.value.allowed_types == ["publickey"]  # no password is even offered
            with pytest.raises(paramiko.AuthenticationException):
                transport.auth_password(user, "kolibrifly")
        finally:
            transport.close()


def test_no_account_on_the_running_box_has_a_usable_password(
    running: list[Box], officer: paramiko.PKey
) -> None:
    _, shadow = ssh(running[0], officer, "cat /etc/shadow")
    for line in shadow.strip().splitlines():
        user, password = line.split(":")[:2]
        assert password == "*" or password.startswith("!"), f"{user}: {password[:3]}…"


def test_each_first_boot_makes_the_box_its_own_keys(
    running: list[Box], officer: paramiko.PKey
) -> None:
    seen = []
    for box in running:
        _, out = ssh(
            box,
            officer,
            "cat /etc/ssh/ssh_host_ed25519_key.pub /etc/machine-id; "
            "stat -c '%U %a' /var/lib/edge/device.key; "
            "/opt/edge/current/bin/edge --home /var/lib/edge settings | grep -i box_id",
        )
        seen.append(out)
        assert "edge 600" in out  # the device key is the box user's alone
    host_keys = [s.split("\n")[0] for s in seen]
    machine_ids = [s.split("\n")[1] for s in seen]
    assert host_keys[0] != host_keys[1]
    assert machine_ids[0] != machine_ids[1] and all(len(m) == 32 for m in machine_ids)
    assert seen[0].split("\n")[3] != seen[1].split("\n")[3]  # box ids


def test_the_pairing_code_shows_on_the_console_and_the_login_page(running: list[Box]) -> None:
    for box in running:
        code = code_of_line(box.path("/etc/ssh/ssh_host_ed25519_key.pub").read_text())
        issue = box.path("/etc/issue.d/edge-pairing.issue").read_text()
        assert code in issue
        page = httpx.get(f"http://{box.address}:8080/login", timeout=10).text
        assert code in page
    codes = {code_of_line(b.path("/etc/ssh/ssh_host_ed25519_key.pub").read_text()) for b in running}
    assert len(codes) == 2


def test_the_release_runs_from_current_as_edge_release_reports(
    running: list[Box], officer: paramiko.PKey
) -> None:
    _, out = ssh(running[0], officer, "edge-release status --no-health")
    status = json.loads(out)
    assert status["ok"] is True, status
    _, current = ssh(running[0], officer, "readlink /opt/edge/current")
    assert re.fullmatch(r"releases/\d+\.\d+\.\d+\+[0-9a-f]{12}", current.strip())
    assert status.get("current") == Path(current.strip()).name, status


def test_unattended_upgrades_take_debian_security_updates_only(
    running: list[Box], officer: paramiko.PKey
) -> None:
    """unattended-upgrades itself, reading the box's apt configuration, allows one origin."""
    _, out = ssh(running[0], officer, "unattended-upgrade --dry-run --debug 2>&1 | head -40")
    allowed = re.search(r"Allowed origins are: (.*)", out)
    assert allowed, out
    assert allowed.group(1).count("origin=") == 1, allowed.group(1)
    assert "codename=bookworm-security,label=Debian-Security" in allowed.group(1)


def test_pairing_over_ssh_lets_exactly_one_key_in(
    running: list[Box], officer: paramiko.PKey
) -> None:
    """Unpaired, in its pairing window, the box lets a key it does not know in, but only to
    run `edge-pair` (the fleet tool's pairing), never a shell. That pairs the box: the key
    is installed, the code leaves the console, and no other new key gets in any more. (On
    box two, last: the other tests see unpaired boxes.)"""
    box, newcomer = running[1], new_key()
    assert box.path("/etc/issue.d/edge-pairing.issue").exists()
    _, out = ssh(box, newcomer, "id -u; cat /etc/shadow")
    assert "root:" not in out, "a pairing login ran a shell"
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["ok"] is True and answer["enrolled"] is False  # no registry token given
    assert json.loads(box.path("/etc/edge/paired.json").read_text())["officer_key"]
    assert not box.path("/etc/issue.d/edge-pairing.issue").exists()
    _, paired = ssh(box, officer, "/opt/edge/current/bin/edge pairing")
    assert paired.startswith("Paired on")
    assert ssh(box, newcomer, "id -u") == (0, "0\n")  # now the box's officer key
    with pytest.raises(paramiko.AuthenticationException):
        ssh(box, new_key(), "true")
