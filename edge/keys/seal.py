"""The primitives of the key slots. Nothing here touches a file.

- Sealing to a public key: HPKE (RFC 9180: X25519, HKDF-SHA256, AES-256-GCM; `cryptography`
  >= 47), so a slot can be re-sealed with a new data key by anyone holding only the slot's
  public key (`edge rekey` needs no password). `info` binds a sealed key to its box and slot.
- Wrapping: AES-256-GCM under a 32-byte key, with the slot's id and box id as associated data.
- A password's key: Argon2id (parameters kept in the slot) then HKDF-SHA256 ("edge-slot-v1").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
SLOT_LABEL = b"edge-slot-v1"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


class Unsealed(Exception):
    """The key, password or data does not open this (wrong password, wrong key, tampered)."""


@dataclass(frozen=True)
class KdfParams:
    """Argon2id parameters of a password slot (heavier than the login verifier: a slot is
    opened once per boot, and each guess against a stolen card costs this much)."""

    memory_kib: int = 65536
    iterations: int = 3
    lanes: int = 1


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def hkdf(secret: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt, info).derive(secret)


def password_key(password: str, salt: bytes, params: KdfParams) -> bytes:
    """The key-encryption key a password gives with this salt (costs one Argon2id)."""
    kdf = Argon2id(
        salt=salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    )
    return hkdf(kdf.derive(password.encode()), SLOT_LABEL)


def wrap(key: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, plain, aad)


def unwrap(key: bytes, wrapped: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(wrapped[:12], wrapped[12:], aad)
    except (InvalidTag, ValueError) as exc:
        raise Unsealed("does not open") from exc


def new_pair() -> tuple[bytes, bytes]:
    """A fresh X25519 key pair as (private raw, public raw)."""
    private = X25519PrivateKey.generate()
    return _raw_private(private), _raw_public(private.public_key())


def public_of(private_raw: bytes) -> bytes:
    return _raw_public(X25519PrivateKey.from_private_bytes(private_raw).public_key())


def seal(public_raw: bytes, plain: bytes, info: bytes) -> bytes:
    """`plain` readable only with the private key of `public_raw` (HPKE base mode)."""
    return _SUITE.encrypt(plain, X25519PublicKey.from_public_bytes(public_raw), info)


def open_sealed(private_raw: bytes, sealed: bytes, info: bytes) -> bytes:
    try:
        private = X25519PrivateKey.from_private_bytes(private_raw)
        return _SUITE.decrypt(sealed, private, info)
    except (InvalidTag, ValueError) as exc:
        raise Unsealed("does not open") from exc


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
