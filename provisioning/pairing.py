"""Pairing a new box, once, on the office network.

1. SSH handshake only: the box proves it holds its host key; nothing is authenticated or
   sent yet.
2. The officer types the pairing code the box shows (its console, or its login page); the
   tool computes the code from the host key it just saw. Different: stop, nothing sent.
3. Same: the officer's key logs in (an unpaired box, in its pairing window, lets any key
   run only `edge-pair pair`), and the box installs that key, enrolls with the registry
   (the one-time token goes on stdin, never on a command line, screen or log) and closes
   pairing for good.
4. The fleet's own known-hosts pins the key under the box id; the inventory gets the box.
   With an office CA, the box's host key is signed and the box answers with its
   certificate from then on.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from edge.pairing import code_of_key, normalize
from provisioning.errors import FleetError, PairingRefused
from provisioning.inventory import Box, Fleet, name_for
from provisioning.transport import PAIR, Session, connect, last_json, open_transport
from provisioning.trust import KnownHosts, verify_host

SYSTEMCTL = '"${EDGE_SYSTEMCTL:-systemctl}"'
CERT_DROPIN = "HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub\n"


@dataclass(frozen=True)
class Request:
    address: str
    port: int = 22
    name: str = ""  # the inventory name; default: from the office's name
    code: str = ""  # as typed; asked when empty
    registry: str = ""
    token: str = ""  # never printed, logged or stored
    officer: str = "officer"  # a label for the key on the box (e.g. amina@laptop)


def pair(
    req: Request,
    fleet: Fleet,
    hosts: KnownHosts,
    key: paramiko.PKey,
    ask: Callable[[str], str],
    ca: Path | None,
    now: Callable[[], float],
) -> tuple[Box, str]:
    """The paired box (already in `fleet` and pinned in `hosts`) and why enrollment failed,
    if it did ("" when enrolled, or when no registry was given)."""
    transport = open_transport(req.address, req.port, cert=False)
    try:
        seen = transport.get_remote_server_key()
        typed = normalize(req.code or ask(f"Pairing code shown by the box at {req.address}: "))
        if typed != code_of_key(seen.asbytes()):
            raise PairingRefused(
                f"the code {typed or '(none)'} is not the code of the box answering at "
                f"{req.address}. Nothing was sent to it. Read the code again from the box's "
                "screen or login page; if it still differs, another machine may be answering "
                "at that address: check the office network."
            )
        try:
            transport.auth_publickey("root", key)
        except paramiko.AuthenticationException:
            raise PairingRefused(
                f"the box at {req.address} does not let a new key in: it is paired already, "
                "or its pairing window is closed (restart the box: pairing is open for an hour "
                "after each start while it is unpaired)"
            ) from None
        request: dict[str, object] = {"officer": req.officer}
        if req.registry and req.token:
            request["registry"] = {"url": req.registry, "token": req.token}
        placeholder = Box("new", "", req.address, req.port)
        session = Session(placeholder, transport)
        command = f"{PAIR} pair --key {key.get_name()} {key.get_base64()}"
        status, out, err = session.run(command, json.dumps(request).encode(), timeout=180)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise PairingRefused(
            f"the connection to {req.address} failed while pairing ({exc}); try again"
        ) from None
    finally:
        transport.close()
    answer = last_json(out) or {}
    if not answer.get("ok"):
        why = answer.get("error") or err.strip().replace(req.token or "\0", "[token]")[-300:]
        raise PairingRefused(f"the box refused to pair: {why or f'exit status {status}'}")
    box_id = str(answer["box_id"])
    if not box_id:
        raise PairingRefused("the box has no box id yet: its first boot did not finish")
    hosts.pin(box_id, seen.get_base64())
    known = fleet.by_id(box_id)
    wanted = req.name or str(answer.get("office_name") or "box")
    name = known.name if known else name_for(wanted, fleet)
    box = Box(
        name=name,
        box_id=box_id,
        address=req.address,
        port=req.port,
        office_id=str(answer.get("office_id", "")),
        paired_at=_stamp(now()),
        enrolled=bool(answer.get("enrolled")),
        settings=known.settings if known else {},
    )
    fleet.boxes[name] = box
    if ca is not None:
        certify(box, hosts, key, ca, now)
    return box, str(answer.get("enroll_error", ""))


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def certify(
    box: Box, hosts: KnownHosts, key: paramiko.PKey, ca: Path, now: Callable[[], float]
) -> None:
    """Sign the (just pinned) host key with the office CA, install the certificate on the
    box, and check that the box now answers with it."""
    pinned = hosts.pinned(box.box_id)
    with tempfile.TemporaryDirectory() as tmp:
        pub = Path(tmp) / "host.pub"
        pub.write_text(f"ssh-ed25519 {pinned} {box.name}\n")
        signed = subprocess.run(
            ["ssh-keygen", "-q", "-s", str(ca), "-I", box.box_id, "-h", "-n", box.box_id,
             "-V", "-5m:+520w", str(pub)],
            capture_output=True, text=True,
        )  # fmt: skip
        if signed.returncode != 0:
            raise FleetError(f"signing the host key failed: {signed.stderr.strip()}")
        cert = (Path(tmp) / "host-cert.pub").read_bytes()
    with connect(box, hosts, key, now) as session:
        _status, out, _ = session.run('echo "${EDGE_ROOT:-}"', timeout=30)
        root = out.strip().rstrip("/")
        session.put_bytes(cert, f"{root}/etc/ssh/ssh_host_ed25519_key-cert.pub", 0o644)
        dropin = f"{root}/etc/ssh/sshd_config.d/edge-cert.conf"
        session.put_bytes(CERT_DROPIN.encode(), dropin, 0o644)
        session.run(f"{SYSTEMCTL} reload ssh", timeout=60)
    authority = (ca.with_name(ca.name + ".pub")).read_text()
    hosts.add_authority(authority)
    for tries_left in range(20, -1, -1):  # sshd restarts itself on reload
        try:
            probe = open_transport(box.address, box.port, cert=True, timeout=5)
        except FleetError:
            if not tries_left:
                raise
            time.sleep(0.25)
            continue
        try:
            key_seen = probe.get_remote_server_key()
            verify_host(key_seen, box.box_id, box.name, box.where, hosts, now())
        finally:
            probe.close()
        break
    box.trust = "ca"
