"""Host trust without TOFU: office CA host certificates made by OpenSSH's own ssh-keygen,
checked here; the fleet's known-hosts file pinned by box id."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from provisioning.trust import KnownHosts, check_certificate, parse_certificate

NOW = datetime(2027, 6, 1, tzinfo=UTC).timestamp()  # inside the windows below


def keygen(*args: str) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("needs ssh-keygen (openssh-client)")
    subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True)


def blob(path: Path) -> bytes:
    return base64.b64decode(path.read_text().split()[1])


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    for name in ("ca", "rogue", "host"):
        keygen("-t", "ed25519", "-N", "", "-f", str(tmp_path / name))
    return tmp_path


def sign(keys: Path, *args: str, ca: str = "ca") -> bytes:
    keygen("-s", str(keys / ca), "-I", "box", *args, str(keys / "host.pub"))
    return blob(keys / "host-cert.pub")


def test_a_certificate_is_read_as_openssh_wrote_it(keys: Path) -> None:
    cert = parse_certificate(sign(keys, "-h", "-n", "box-1,box-1.local", "-z", "42",
                                  "-V", "20250101:20300101"))  # fmt: skip
    assert cert.principals == ["box-1", "box-1.local"] and cert.serial == 42
    assert cert.cert_type == 2 and cert.key_id == "box"
    assert cert.key_blob == blob(keys / "host.pub")
    assert cert.signer == blob(keys / "ca.pub")


def test_the_office_ca_is_trusted_for_the_box_it_named(keys: Path) -> None:
    cert = sign(keys, "-h", "-n", "box-1", "-V", "20250101:20300101")
    assert check_certificate(cert, "box-1", [blob(keys / "ca.pub")], NOW).key_id == "box"


@pytest.mark.parametrize(
    ("args", "ca", "box", "why"),
    [
        (["-h", "-n", "box-1", "-V", "20250101:20300101"], "rogue", "box-1", "does not trust"),
        (["-h", "-n", "box-2", "-V", "20250101:20300101"], "ca", "box-1", "not box-1"),
        (["-h", "-n", "box-1", "-V", "20250101:20260101"], "ca", "box-1", "not valid now"),
        (["-n", "box-1", "-V", "20250101:20300101"], "ca", "box-1", "not a host certificate"),
        (["-h", "-n", "box-1", "-O", "force-command=/bin/true", "-V", "20250101:20300101"],
         "ca", "box-1", "critical options"),
    ],
)  # fmt: skip
def test_anything_else_is_refused(keys: Path, args: list[str], ca: str, box: str, why: str) -> None:
    if "-O" in args:
        args = [a for a in args if a != "-h"]  # options exist on user certificates only
        why = "not a host certificate"
    cert = sign(keys, *args, ca=ca)
    with pytest.raises(ValueError, match=why):
        check_certificate(cert, box, [blob(keys / "ca.pub")], NOW)


def test_a_tampered_certificate_is_refused(keys: Path) -> None:
    cert = bytearray(sign(keys, "-h", "-n", "box-1", "-V", "20250101:20300101"))
    at = cert.index(b"box-1")
    cert[at + 4] = ord("2")  # box-1 -> box-2, signature unchanged
    with pytest.raises(ValueError, match="signature is not valid"):
        check_certificate(bytes(cert), "box-2", [blob(keys / "ca.pub")], NOW)


def test_known_hosts_pins_by_box_id_and_keeps_ca_lines(tmp_path: Path, keys: Path) -> None:
    hosts = KnownHosts(tmp_path / "fleet" / "known_hosts")
    assert hosts.pinned("box-1") is None and hosts.authorities() == []
    hosts.add_authority((keys / "ca.pub").read_text())
    hosts.pin("box-1", "AAAAone")
    hosts.pin("box-2", "AAAAtwo")
    hosts.pin("box-1", "AAAAnew")  # re-paired after a re-image
    assert hosts.pinned("box-1") == "AAAAnew" and hosts.pinned("box-2") == "AAAAtwo"
    assert hosts.authorities() == [blob(keys / "ca.pub")]
    assert hosts.forget("box-2") and hosts.pinned("box-2") is None
    text = hosts.path.read_text()
    assert text.count("# edge-fleet's own known hosts") == 1
    assert "@cert-authority * ssh-ed25519" in text
