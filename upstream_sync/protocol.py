"""The sync protocol's messages and signatures, shared by the box and the registry.

Every request from a box is signed with its Ed25519 device key over a canonical string (see
docs/sync-protocol.md); every push answer is signed with the registry's key. Bodies are JSON,
gzip-compressed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import secrets
import zlib
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PROTOCOL = "1"
# Bodies are gzip-compressed JSON, named by the media type rather than Content-Encoding, so
# that no HTTP layer decompresses them: signatures cover the exact bytes on the wire.
MEDIA_TYPE = "application/vnd.edge-sync.v1+gzip"
SUPPORTED = frozenset({"1"})
# What each side can do, beyond the protocol version. Every request carries the box's list in
# X-Edge-Capabilities; every answer from the registry carries the ones both sides speak, and
# a box does not ask for what its registry lacks. Protocol 1 cannot work without push and pull.
PUSH, PULL = "push.v1", "pull.v1"
LOGIN_CHECK, SEARCH, LEASE = "login-check.v1", "search.v1", "lease.v1"
DOCUMENTS = "documents.v1"
# The registry keeps a secret per box that opens the box's registry key slot after a reboot
# (upstream_sync/escrow.py): the box unlocks with nobody logged in, unless reported stolen.
ESCROW = "escrow.v1"
# A push answer that lists only the actions not simply accepted (see PushResult.accepted_at):
# on a thin WAN the per-action answers were a fifth of the bytes a drain puts on the wire.
PUSH_COMPACT = "push-compact.v1"
# A push whose actions leave out `prev_hash` and `hash` (PushBatch.derived_hashes): the
# registry derives both from the box's chain as it holds it. Each hash is 32 bytes no
# compression can shrink, over a third of a batch's bytes.
PUSH_DERIVED_HASHES = "push-derived-hashes.v1"
# Batches sent before the answer to the one before (PushBatch.after, .seen): on a long round
# trip the link would otherwise idle while each answer comes back. The registry checks a
# batch only after the one it continues, and holds back the later actions of a record whose
# action it refused in a batch the box had no answer to yet.
PUSH_PIPELINED = "push-pipelined.v1"
CAPABILITIES = (
    PUSH,
    PULL,
    LOGIN_CHECK,
    SEARCH,
    LEASE,
    DOCUMENTS,
    ESCROW,
    PUSH_COMPACT,
    PUSH_DERIVED_HASHES,
    PUSH_PIPELINED,
)
REQUIRED_CAPABILITIES = (PUSH, PULL)
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


class RegistryAction(WireAction, forbid_unknown_fields=True):
    """An action as the national journal holds it: `seq` is the sending box's journal seq."""

    national_seq: int
    origin_box: str
    received_at: str


class RecordCopy(msgspec.Struct, forbid_unknown_fields=True):
    """A record as the registry knows it: every accepted action, in national order."""

    record_id: str
    actions: list[RegistryAction]


class UserInfo(msgspec.Struct, forbid_unknown_fields=True):
    """A user of the box's office, as the registry knows them (never a password hash)."""

    id: str
    username: str
    display_name: str
    role: str
    office_id: str
    active: bool


class Change(msgspec.Struct, forbid_unknown_fields=True):
    """One change for a box since its cursor: `lease-granted` and `lease-revoked` carry the
    record as the registry holds it; `user` carries the user."""

    seq: int
    kind: str  # lease-granted | lease-revoked | user
    at: str
    by: str | None = None
    reason: str | None = None
    record: RecordCopy | None = None
    user: UserInfo | None = None


class PullRequest(msgspec.Struct, forbid_unknown_fields=True):
    cursor: int
    limit: int = 200
    # A restored box asks again for every record it holds, after this record id ("" first).
    resync_after: str | None = None


class PullResult(msgspec.Struct):
    changes: list[Change]
    cursor: int
    more: bool
    config_version: str
    registry_time: str
    resync_next: str | None = None  # where the next page of a resync starts; None: done


class ClockStep(msgspec.Struct, forbid_unknown_fields=True):
    """How far the box's clock jumped when it got synchronised during boot `boot_id`: add
    `offset_ms` to the `created_at` of that boot's `unsynced` actions to get the real time."""

    boot_id: str
    offset_ms: int
    measured_at: str


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    text: str
    limit: int = 20
    # Who at the box is asking: the registry shows only what that user's role may read.
    username: str = ""


class RecordHit(msgspec.Struct):
    """A record the registry holds, as a search shows it (`leased_to`: the box holding it)."""

    record_id: str
    tracking_id: str
    title: str
    event_type: str
    status: str
    office_id: str
    leased_to: str | None
    held_by_office: str | None


class SearchResult(msgspec.Struct):
    records: list[RecordHit]


class LeaseRequest(msgspec.Struct, forbid_unknown_fields=True):
    record_id: str
    by: str  # who at the office asked, for the record's history at the registry


class LeaseAnswer(msgspec.Struct):
    granted: bool
    reason: str = ""


class ChainLink(msgspec.Struct, forbid_unknown_fields=True):
    """One entry of a box's hash chain: its seq, the hash before it and its own."""

    seq: int
    prev_hash: str
    hash: str


class PushBatch(msgspec.Struct, forbid_unknown_fields=True):
    box_time: str
    actions: list[WireAction]
    clock_steps: list[ClockStep] = []
    # The chain entries of the box's actions this batch skips (held back behind a refusal,
    # discarded, answered before), so that each action can be seen to continue the chain.
    links: list[ChainLink] = []
    # The box's users who made the batch's actions (never a password or its hash).
    users: list[UserInfo] = []
    # After `edge restore`: the box's chain goes on from this entry of it.
    restart: ChainLink | None = None
    # An action's empty `prev_hash` or `hash` is left out for the registry to derive (the
    # hash of the entry before, as it holds the chain; the hash of the action's columns).
    # Sent only to a registry that said it speaks `push-derived-hashes.v1`.
    derived_hashes: bool = False
    # `push-pipelined.v1` only: the batch continues the box's chain after entry `after`, and
    # the box had the registry's answers up to entry `seen` when it made it (`seen` < `after`:
    # sent before the answer to the batch before it). -1: not said.
    after: int = -1
    seen: int = -1


class ActionResult(msgspec.Struct):
    id: str
    status: str  # accepted | duplicate | conflict | rejected
    registry_time: str | None = None
    reason: str | None = None
    # The number the registry gave a registration it accepted (also when sent again).
    registration_number: str | None = None


class PushResult(msgspec.Struct):
    results: list[ActionResult]
    registry_time: str
    chain_seq: int = 0  # how far the registry holds the box's chain, unbroken from its start
    # A compact answer (to a box that named `push-compact.v1`): `results` lists only the
    # actions not accepted by this batch, and those that registered a record (with their
    # registration number); every other action of the batch was accepted at this time.
    # None: `results` answers every action.
    accepted_at: str | None = None

    def every_result(self, ids: list[str]) -> list[ActionResult]:
        """The answer for each action of the batch sent (`ids`, in the batch's order)."""
        if self.accepted_at is None:
            return self.results
        listed = {r.id: r for r in self.results}
        return [listed.get(i) or ActionResult(i, "accepted", self.accepted_at) for i in ids]


class DocumentReceipt(msgspec.Struct):
    """What the registry holds of a document after a chunk: `received` bytes from its start
    (the box sends on from there, whatever it sent before), `complete` once they are all
    there and their SHA-256 is the one the action that attached it names; `problem` when it
    had to start again from 0 (the bytes did not match)."""

    document_id: str
    received: int
    complete: bool
    problem: str | None = None


def document_path(action_id: str, document_id: str, start: int) -> str:
    """Where a chunk of a document goes: the action that attached it, the document, the
    byte the chunk starts at (all three in the signed path)."""
    return f"/v1/actions/{action_id}/documents/{document_id}/at/{start}"


class LoginCheck(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class LoginVerdict(msgspec.Struct):
    verdict: str  # confirmed | rejected | unknown (the registry has no such user)


class EscrowRegistration(msgspec.Struct, forbid_unknown_fields=True):
    """The box's unlock key (Ed25519 public, hex): the only key that may ask for its secret."""

    unlock_key: str


class EscrowRelease(msgspec.Struct, forbid_unknown_fields=True):
    boot_id: str = ""  # which boot of the box asks, for the registry's log


class EscrowSecret(msgspec.Struct):
    """The secret (32 bytes, hex) that opens the box's registry key slot."""

    k_net: str
    registered_at: str


class EnrollRequest(msgspec.Struct, forbid_unknown_fields=True):
    token: str
    public_key: str
    box_name: str = ""
    office_id: str = ""  # the office the box serves; the registry refuses a token for another


class EnrollResponse(msgspec.Struct):
    box_id: str
    office_id: str
    registry_key: str
    recovery_key: str = ""  # hex: the country's recovery public key (empty: none given)


class Hello(msgspec.Struct):
    protocols: list[str]
    capabilities: list[str]
    registry_key: str


def fingerprint(public_hex: str) -> str:
    """A public key as people compare it: `SHA256:` and the base64 of its digest (the form
    OpenSSH shows host keys in)."""
    digest = hashlib.sha256(bytes.fromhex(public_hex)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_capabilities(header: str | None) -> frozenset[str] | None:
    """The capabilities named in a header (comma-separated); None when there is no header."""
    if header is None:
        return None
    return frozenset(c.strip() for c in header.split(",") if c.strip())


def negotiate(offered: frozenset[str], asked: str | None) -> frozenset[str]:
    """What both sides speak: the ones offered that the other side named (all offered when
    it named none: a box from before capabilities were negotiated)."""
    theirs = parse_capabilities(asked)
    return offered if theirs is None else offered & theirs


def encode(value: Any) -> bytes:
    """A message as the wire carries it: JSON, gzip-compressed."""
    return gzip.compress(msgspec.json.encode(value), compresslevel=6, mtime=0)


# The most a message may inflate to unless the reader says otherwise: far above any batch a
# box sends (`sync_batch_bytes`, 1 MiB by default), far below what a Pi can hold.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class MessageTooLarge(msgspec.DecodeError):
    """A body that inflates to more than the reader takes (a gzip bomb, or a batch larger
    than the other side accepts)."""


def inflate(body: bytes, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    """The JSON inside a gzip body, never inflating more than `limit` bytes of it: a small
    body that would inflate to gigabytes is refused after `limit`, not held in memory."""
    inflater = zlib.decompressobj(wbits=31)  # a gzip member
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise msgspec.DecodeError(f"not gzip-compressed JSON ({exc})") from None
    if len(out) > limit:
        raise MessageTooLarge(f"the message inflates to more than {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise msgspec.DecodeError("not one complete gzip member")
    return out


def decode(body: bytes, kind: type[Any], limit: int = MAX_MESSAGE_BYTES) -> Any:
    """A message from the wire, checked against its type; refused (MessageTooLarge) when it
    would inflate past `limit` bytes."""
    return msgspec.json.decode(inflate(body, limit), type=kind)


def new_nonce() -> str:
    """A random nonce, new for every signed request."""
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
    """An Ed25519 signature, as hex."""
    return key.sign(message).hex()


def verify(public_hex: str, signature_hex: str, message: bytes) -> bool:
    """Whether the signature is this key's over this message."""
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), message
        )
    except (InvalidSignature, ValueError):
        return False
    return True
