"""Which host key a box must present: the fleet's own known-hosts file (one pinned key per
box, named by box id, written only by pairing), or an office SSH CA whose host certificates
name the box id. Never trust on first use; never the user's ~/.ssh/known_hosts.

The file is OpenSSH's format, so `ssh -o UserKnownHostsFile=<fleet>/known_hosts
-o HostKeyAlias=<box id> root@<address>` works for an officer who wants a shell. It is parsed
here, line by line: paramiko's HostKeys stops at the first `@cert-authority` line.
"""

from __future__ import annotations

import base64
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.pairing import code_of_key
from provisioning.errors import HostKeyChanged, NotPaired

HEADER = (
    "# edge-fleet's own known hosts, written by `edge-fleet pair`: one line per box, named by\n"
    "# its box id. With OpenSSH: ssh -o UserKnownHostsFile=THIS -o HostKeyAlias=<box id> ...\n"
)
CERT_TYPE = "ssh-ed25519-cert-v01@openssh.com"
HOST_CERT = 2


class KnownHosts:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text().splitlines()
        except FileNotFoundError:
            return []

    def pinned(self, box_id: str) -> str | None:
        """The base64 ed25519 key pinned for this box, if any."""
        for line in self._lines():
            parts = line.split()
            if len(parts) >= 3 and not line.startswith(("#", "@")) and parts[0] == box_id:
                return parts[2] if parts[1] == "ssh-ed25519" else None
        return None

    def authorities(self) -> list[bytes]:
        """The public key blobs of the office CAs (`@cert-authority` lines)."""
        out = []
        for line in self._lines():
            parts = line.split()
            if len(parts) >= 4 and parts[0] == "@cert-authority" and parts[2] == "ssh-ed25519":
                out.append(base64.b64decode(parts[3]))
        return out

    def _write(self, lines: list[str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(HEADER + "".join(f"{line}\n" for line in lines if not _ours(line)))
        os.replace(tmp, self.path)

    def pin(self, box_id: str, key_b64: str) -> None:
        """Pin a box's key (replacing its old pin): only after the pairing code matched."""
        keep = [line for line in self._lines() if line.split()[:1] != [box_id]]
        self._write([*keep, f"{box_id} ssh-ed25519 {key_b64}"])

    def forget(self, box_id: str) -> bool:
        lines = self._lines()
        keep = [line for line in lines if line.split()[:1] != [box_id]]
        self._write(keep)
        return len(keep) != len(lines)

    def add_authority(self, key_line: str) -> None:
        parts = key_line.split()
        entry = f"@cert-authority * {parts[0]} {parts[1]} office-ca"
        if entry not in self._lines():
            self._write([*self._lines(), entry])


def _ours(line: str) -> bool:
    return line.startswith("# edge-fleet's own") or line.startswith("# its box id.")


class PinTransport(paramiko.Transport):
    """Asks only for the ed25519 host key: the key the pairing code is made from."""

    @property
    def preferred_keys(self) -> tuple[str, ...]:
        return ("ssh-ed25519",)


class CertTransport(paramiko.Transport):
    """Asks for the ed25519 host certificate (paramiko offers plain keys first otherwise);
    paramiko checks the key exchange with the key inside it and keeps the certificate."""

    @property
    def preferred_keys(self) -> tuple[str, ...]:
        return (CERT_TYPE,)


@dataclass(frozen=True)
class Certificate:
    key_blob: bytes  # the host key inside, as a plain ssh-ed25519 blob
    serial: int
    cert_type: int
    key_id: str
    principals: list[str]
    valid_after: int
    valid_before: int
    critical: bytes
    signer: bytes  # the CA's public key blob
    signature: bytes
    signed: bytes  # everything the signature covers


def _string(data: bytes, at: int) -> tuple[bytes, int]:
    (n,) = struct.unpack(">I", data[at : at + 4])
    if at + 4 + n > len(data):
        raise ValueError("truncated certificate")
    return data[at + 4 : at + 4 + n], at + 4 + n


def parse_certificate(blob: bytes) -> Certificate:
    """An ssh-ed25519 host certificate (PROTOCOL.certkeys), fields as OpenSSH writes them."""
    kind, at = _string(blob, 0)
    if kind.decode() != CERT_TYPE:
        raise ValueError(f"not an ed25519 certificate ({kind!r})")
    _nonce, at = _string(blob, at)
    public, at = _string(blob, at)
    serial, cert_type = struct.unpack(">QI", blob[at : at + 12])
    key_id, at = _string(blob, at + 12)
    packed, at = _string(blob, at)
    principals, i = [], 0
    while i < len(packed):
        name, i = _string(packed, i)
        principals.append(name.decode())
    valid_after, valid_before = struct.unpack(">QQ", blob[at : at + 16])
    critical, at = _string(blob, at + 16)
    _extensions, at = _string(blob, at)
    _reserved, at = _string(blob, at)
    signer, at = _string(blob, at)
    signed = blob[:at]
    signature, _ = _string(blob, at)
    plain = _pack(b"ssh-ed25519") + _pack(public)
    return Certificate(
        plain, serial, cert_type, key_id.decode(), principals, valid_after, valid_before,
        critical, signer, signature, signed,
    )  # fmt: skip


def _pack(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def check_certificate(blob: bytes, box_id: str, cas: list[bytes], now: float) -> Certificate:
    """Refuse (ValueError, saying why) unless an office CA signed this host certificate for
    this box id, now, with no option we do not understand."""
    cert = parse_certificate(blob)
    if cert.signer not in cas:
        raise ValueError("its certificate is signed by a CA this fleet does not trust")
    alg, at = _string(cert.signature, 0)
    raw, _ = _string(cert.signature, at)
    signer_alg, at = _string(cert.signer, 0)
    signer_key, _ = _string(cert.signer, at)
    if alg != b"ssh-ed25519" or signer_alg != b"ssh-ed25519":
        raise ValueError("its certificate is not signed with an ed25519 office CA")
    try:
        Ed25519PublicKey.from_public_bytes(signer_key).verify(raw, cert.signed)
    except InvalidSignature:
        raise ValueError("its certificate's signature is not valid") from None
    if cert.cert_type != HOST_CERT:
        raise ValueError("its certificate is not a host certificate")
    if not cert.valid_after <= now < cert.valid_before:
        raise ValueError("its certificate is not valid now (expired, or the clock is off)")
    if box_id not in cert.principals:
        raise ValueError(f"its certificate is for {', '.join(cert.principals)}, not {box_id}")
    if cert.critical:
        raise ValueError("its certificate carries critical options this tool does not know")
    return cert


def verify_host(
    key: paramiko.PKey, box_id: str, name: str, where: str, hosts: KnownHosts, now: float
) -> None:
    """Raise unless the key the server proved it holds is this box's (pin or office CA)."""
    blob = key.public_blob.key_blob if key.public_blob else None
    if blob is not None and key.public_blob and key.public_blob.key_type == CERT_TYPE:
        try:
            check_certificate(blob, box_id, hosts.authorities(), now)
            return
        except ValueError as exc:
            raise HostKeyChanged(name, where, f"it is not this box: {exc}") from None
    pinned = hosts.pinned(box_id)
    if pinned is None:
        raise NotPaired(f"{name} ({box_id}) has no pinned host key: pair it first")
    if key.get_name() != "ssh-ed25519" or key.get_base64() != pinned:
        seen = code_of_key(key.asbytes())
        was = code_of_key(base64.b64decode(pinned))
        raise HostKeyChanged(name, where, f"pairing code was {was}, the key seen now gives {seen}")
