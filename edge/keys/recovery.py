"""The recovery key: an X25519 pair made by the country's IT (`edge-registry recovery-key new`);
the private key stays offline, the public key reaches each box (`edge init
--recovery-public-key`, `edge recovery-key set`, or the registry at enrollment). Its slot lets
IT read a box whose staff all forgot their passwords, or restore a backup on another box
(`--recovery-key PRIVATE_FILE`)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from edge.errors import EdgeError
from edge.keys import seal

PUBLIC_TAG = "edge-recovery-public-v1"
PRIVATE_TAG = "edge-recovery-private-v1"


def new_pair(out: Path) -> Path:
    """Write the private key to `out` (mode 0600) and the public key to `out`.pub."""
    private, public = seal.new_pair()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{PRIVATE_TAG} {private.hex()}\n")
    pub = out.with_name(out.name + ".pub")
    pub.write_text(f"{PUBLIC_TAG} {public.hex()}\n")
    return pub


def _read(path: Path, tag: str) -> bytes:
    try:
        found, value = path.read_text(encoding="utf-8").split()
        raw = bytes.fromhex(value)
    except (OSError, ValueError) as exc:
        raise EdgeError(f"{path} does not hold a recovery key ({exc})") from None
    if found != tag or len(raw) != 32:
        raise EdgeError(f"{path} does not hold a {tag.split('-')[2]} recovery key")
    return raw


def read_public(path: Path) -> bytes:
    return _read(path, PUBLIC_TAG)


def read_private(path: Path) -> bytes:
    return _read(path, PRIVATE_TAG)


def slot_id(public: bytes) -> str:
    return "recovery-" + hashlib.sha256(public).hexdigest()[:16]
