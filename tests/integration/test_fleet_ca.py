"""An office SSH CA instead of pins: pairing signs the box's host key, the box then answers
with its certificate, and the tool (paramiko has no host-certificate support: see
provisioning/trust.py) accepts the office CA's certificate for this box id only."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from tests.fleet.net import require_tools
from tests.fleet.office import Office


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    require_tools()
    place = Office(tmp_path_factory.mktemp("ca-office"), 1, tag=f"{os.getpid() % 100000}c")
    try:
        yield place
    finally:
        place.close()


def test_a_box_paired_under_an_office_ca_answers_with_its_certificate(office: Office) -> None:
    box = office.boxes[0]
    office.folder.mkdir()
    ca = office.folder / "office-ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "office-ca",
                    "-f", str(ca)], check=True)  # fmt: skip
    done = office.fleet("pair", box.address, "--code", box.code())
    # (Once, under a loaded CI run, the box refused the key: its sshd's log says why.)
    assert done.returncode == 0, done.stderr + (box.root / "sshd.log").read_text()
    assert "host certificate of the office CA" in done.stdout
    assert office.inventory()["boxes"]["clinic-1"]["trust"] == "ca"
    assert "@cert-authority * ssh-ed25519" in (office.folder / "known_hosts").read_text()
    cert = box.root / "etc/ssh/ssh_host_ed25519_key-cert.pub"
    listing = subprocess.run(["ssh-keygen", "-L", "-f", str(cert)], capture_output=True, text=True)
    box_id = office.inventory()["boxes"]["clinic-1"]["box_id"]
    assert "host certificate" in listing.stdout and box_id in listing.stdout
    code, rows = office.fleet_json("status")
    assert code == 1 and rows[0]["reachable"] and rows[0]["health"] == "not installed"

    # A certificate from another CA (the right key, the right name) is refused.
    rogue = office.tmp / "rogue-ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(rogue)], check=True)
    subprocess.run(["ssh-keygen", "-q", "-s", str(rogue), "-I", "x", "-h", "-n", box_id,
                    str(box.root / "etc/ssh/ssh_host_ed25519_key.pub")], check=True)  # fmt: skip
    os.kill(int((box.root / "run/sshd.pid").read_text()), signal.SIGHUP)
    code, rows = office.fleet_json("status")
    assert code == 1 and not rows[0]["reachable"]
    assert "signed by a CA this fleet does not trust" in rows[0]["error"]
