"""The sync protocol's messages and signatures, shared by the box and the registry.

Every request from a box is signed with its Ed25519 device key over a canonical string (see
docs/sync-protocol.md); every push answer is signed with the registry's key. Bodies are JSON,
gzip-compressed.
"""

from __future__ import annotations

import gzip
import hashlib
import secrets
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PROTOCOL = "1"
# Bodies are gzip-compressed JSON, named by the media type rather than Content-Encoding, so
# that no HTTP layer decompresses them: signatures cover the exact bytes on the wire.
MEDIA_TYPE = "application/vnd.edge-sync.v1+gzip"
SUPPORTED = frozenset({"1"})
CAPABILITIES = ("push.v1", "login-check.v1")
H_PROTOCOL = "x-edge-protocol"
H_CAPABILITIES = "x-edge-capabilities"
H_BOX = "x-edge-box"
H_TIME = "x-edge-time"
H_NONCE = "x-edge-nonce"
H_SIGNATURE = "x-edge-signature"


class WireAction(msgspec.Struct, forbid_unknown_fields=True):
    """One journal row, exactly as stored on the box (JSON columns as their text)."""

    seq: int
    id: str
    record_id: str
    event_type: str
    type: str
    custom_type: str | None
    created_at: str
    client_time: str | None
    clock: str
    boot_id: str
    created_by: str
    created_at_location: str
    payload: str
    flags_added: str
    flags_removed: str
    prev_hash: str
    hash: str


class PushBatch(msgspec.Struct, forbid_unknown_fields=True):
    box_time: str
    actions: list[WireAction]


class ActionResult(msgspec.Struct):
    id: str
    status: str  # accepted | duplicate | conflict | rejected
    registry_time: str | None = None
    reason: str | None = None


class PushResult(msgspec.Struct):
    results: list[ActionResult]
    registry_time: str


class LoginCheck(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class LoginVerdict(msgspec.Struct):
    verdict: str  # confirmed | rejected | unknown (the registry has no such user)


class EnrollRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    public_key: str
    box_name: str = ""


class EnrollResponse(msgspec.Struct):
    box_id: str
    office_id: str
    registry_key: str


class Hello(msgspec.Struct):
    protocols: list[str]
    capabilities: list[str]
    registry_key: str


def encode(value: Any) -> bytes:
    """A message as the wire carries it: JSON, gzip-compressed."""
    return gzip.compress(msgspec.json.encode(value), compresslevel=6, mtime=0)


def decode(body: bytes, kind: type[Any]) -> Any:
    return msgspec.json.decode(gzip.decompress(body), type=kind)


def new_nonce() -> str:
    return secrets.token_hex(16)


def signing_string(
    method: str, path: str, box_id: str, time: str, nonce: str, body: bytes
) -> bytes:
    """What a box signs: the request's method, path, identity, time, nonce and body digest."""
    digest = hashlib.sha256(body).hexdigest()
    return f"edge-sync-{PROTOCOL}\n{method}\n{path}\n{box_id}\n{time}\n{nonce}\n{digest}".encode()


def answer_string(nonce: str, status: int, body: bytes) -> bytes:
    """What the registry signs in an answer: the request's nonce, the status and the body."""
    digest = hashlib.sha256(body).hexdigest()
    return f"edge-sync-answer-{PROTOCOL}\n{nonce}\n{status}\n{digest}".encode()


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return key.sign(message).hex()


def verify(public_hex: str, signature_hex: str, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True
