"""The pairing code: a short code derived from the box's SSH host key. The box shows it (its
console and its login page) while no IT officer has paired it; `edge-fleet pair` computes
the same code from the key it sees over SSH, so the officer knows it talks to this box and
not to an impostor. Small and dependency-free: the web process, `edge pairing` and the
fleet tool all use it."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

# Crockford's base32: no I, L, O or U, so the code is read aloud and typed without doubt.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS, GROUP_LEN = 3, 4  # 12 characters: 60 bits, far beyond forging a matching key
DOMAIN = b"edge-box pairing code v1\0"
HOST_KEY = "etc/ssh/ssh_host_ed25519_key.pub"
PAIRED = "etc/edge/paired.json"
PAIR_PROGRAM = "usr/local/sbin/edge-pair"


def code_of_key(key_blob: bytes) -> str:
    """The pairing code of an SSH public key (its wire-format blob), as `XXXX-XXXX-XXXX`."""
    number = int.from_bytes(hashlib.sha256(DOMAIN + key_blob).digest()[:8], "big")
    chars = [ALPHABET[(number >> (59 - 5 * i)) & 31] for i in range(GROUPS * GROUP_LEN)]
    return "-".join("".join(chars[i : i + GROUP_LEN]) for i in range(0, len(chars), GROUP_LEN))


def code_of_line(public_key_line: str) -> str:
    """The pairing code of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`)."""
    parts = public_key_line.split()
    if len(parts) < 2:
        raise ValueError("not an OpenSSH public key line")
    return code_of_key(base64.b64decode(parts[1]))


def normalize(typed: str) -> str:
    """A code as someone typed it (any case, spaces, O for 0, I or L for 1) in canonical form."""
    raw = "".join(c for c in typed.upper() if c.isalnum())
    raw = raw.translate(str.maketrans("OIL", "011"))
    return "-".join(raw[i : i + GROUP_LEN] for i in range(0, len(raw), GROUP_LEN))


def system_root() -> Path:
    """`/` on a box; tests run whole boxes inside a directory named by EDGE_ROOT."""
    return Path(os.environ.get("EDGE_ROOT") or "/")


@dataclass(frozen=True)
class PairingState:
    is_box: bool  # the on-box pairing program is installed (an edge image, not a laptop)
    code: str | None  # None when the host key is missing
    paired: bool
    paired_at: str | None = None
    officer: str | None = None  # the paired key's fingerprint and comment


def state(root: Path | None = None) -> PairingState:
    root = root or system_root()
    is_box = (root / PAIR_PROGRAM).exists()
    try:
        code: str | None = code_of_line((root / HOST_KEY).read_text())
    except (OSError, ValueError):
        code = None
    try:
        marker = json.loads((root / PAIRED).read_text())
    except (OSError, ValueError):
        return PairingState(is_box, code, False)
    return PairingState(is_box, code, True, marker.get("paired_at"), marker.get("officer"))


def code_to_show(root: Path | None = None) -> str | None:
    """The code the login page shows: only on a box, only while unpaired."""
    now = state(root)
    return now.code if now.is_box and not now.paired else None
