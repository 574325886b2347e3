"""SSH keys for the image tests: made fresh for each run, never written to disk."""

from __future__ import annotations

import io

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def new_key() -> paramiko.PKey:
    """A fresh Ed25519 key in paramiko's hands (paramiko cannot generate Ed25519 itself)."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def public_line(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.get_base64()} officer@test"
