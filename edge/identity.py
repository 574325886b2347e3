"""The box's device identity: an Ed25519 key made on the box; the private key never leaves it.

On a box whose journal is encrypted the key file is wrapped (AES-256-GCM) under a key derived
from the data key, so a stolen card cannot sign as the box; it is usable only while unlocked.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.errors import BoxLocked
from edge.keys import runtime, seal
from edge.texts import tr

WRAPPED = b"EDGE-WRAPPED-KEY-V1\n"


def create_device_key(path: Path, data_key: bytes | None = None) -> str:
    """Write a new private key (mode 0600; wrapped under `data_key` when given) and return the
    public key as hex."""
    key = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(_pem(key) if data_key is None else wrap_device_key(_pem(key), data_key))
    return public_key_hex(key)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def wrap_device_key(pem: bytes, data_key: bytes) -> bytes:
    return WRAPPED + seal.wrap(_file_key(data_key), pem, b"device.key")


def _file_key(data_key: bytes) -> bytes:
    return seal.hkdf(data_key, b"edge-device-key-v1")


def device_key_pem(path: Path, data_key: bytes | None = None) -> bytes:
    """The private key's PEM, unwrapped with `data_key` (else the unlocked box's key)."""
    raw = path.read_bytes()
    if not raw.startswith(WRAPPED):
        return raw
    if data_key is None:
        data_key = runtime.key_for_home(path.parent)
    if data_key is None:
        raise BoxLocked(tr("The box is locked: its device key opens only once it is unlocked."))
    staged = _staged(path)
    for candidate in (path, staged):  # a rekey cut short: the new copy is wrapped by the new DK
        try:
            raw = candidate.read_bytes()
            return seal.unwrap(_file_key(data_key), raw[len(WRAPPED) :], b"device.key")
        except (seal.Unsealed, FileNotFoundError):
            continue
    raise BoxLocked(tr("The device key does not open with this box's data key."))


def _staged(path: Path) -> Path:
    return path.with_name(path.name + ".next")


def encrypt_device_key(path: Path, data_key: bytes) -> None:
    """A plain device key from before encryption at rest, wrapped in place (atomically)."""
    if not path.exists() or path.read_bytes().startswith(WRAPPED):
        return
    staged = _staged(path)
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(wrap_device_key(path.read_bytes(), data_key))
        f.flush()
        os.fsync(f.fileno())
    os.replace(staged, path)


def stage_device_key(path: Path, old: bytes, new: bytes) -> None:
    """Before a rekey: the device key wrapped by the new data key, beside the current one."""
    if not path.read_bytes().startswith(WRAPPED):
        return
    pem = device_key_pem(path, old)
    staged = _staged(path)
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(wrap_device_key(pem, new))
        f.flush()
        os.fsync(f.fileno())


def commit_device_key(path: Path) -> None:
    """After a rekey: the new copy replaces the old."""
    staged = _staged(path)
    if staged.exists():
        os.replace(staged, path)


def load_device_key(path: Path, data_key: bytes | None = None) -> Ed25519PrivateKey:
    """The box's private key (never sent anywhere)."""
    key = serialization.load_pem_private_key(device_key_pem(path, data_key), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 key")
    return key


def public_key_hex(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()
