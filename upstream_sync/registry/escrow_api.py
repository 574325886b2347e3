"""The registry's escrow endpoints, for boxes: register an unlock key (signed with the device
key, like every sync request) and get the secret that opens the box's registry key slot; ask
for it again after a reboot (signed with the unlock key: the only thing that key can do)."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State
from litestar.params import RawBody

from edge.clock import utcnow
from upstream_sync import protocol as p
from upstream_sync.registry import escrow
from upstream_sync.registry.context import RegistryContext, registry_of
from upstream_sync.registry.enrollment import note_nonce
from upstream_sync.registry.errors import (
    BadMessage,
    BadSignature,
    BoxRevoked,
    NoUnlockKey,
    Replayed,
)
from upstream_sync.registry.sync_api import (
    _check_protocol,
    _decode,
    _offered,
    _signature,
    _signed_message,
    _wire,
)

log = logging.getLogger("upstream_sync.registry")

Req = Request[Any, Any, Any]
# Both messages are a few dozen bytes.
ESCROW_MAX_BYTES = 4096


def _who(request: Req) -> str:
    """Where a request came from, for the box's escrow events (a stolen box asking tells
    the operator its address)."""
    client = request.client
    return f"from {client.host if client else 'an unknown address'}"


def _refused(reg: RegistryContext, exc: BoxRevoked) -> BoxRevoked:
    escrow.note_refusal(reg.db, exc, utcnow())
    log.warning("refused the unlock secret of box %s (reported stolen), %s", exc.box_id, exc.who)
    return exc


@post(
    "/v1/escrow/register",
    operation_id="registerUnlockKey",
    status_code=200,
    sync_to_thread=True,
    request_max_body_size=ESCROW_MAX_BYTES,
)
def register(request: Req, state: State, body: RawBody) -> Response[bytes]:
    """An unlocked box registers its unlock key (signed with its device key); answers the
    secret that opens its registry key slot."""
    reg = registry_of(state)
    box_id, nonce, ask = _signed_message(
        reg, request, p.ESCROW, body, p.EscrowRegistration, ESCROW_MAX_BYTES
    )
    try:
        if len(bytes.fromhex(ask.unlock_key)) != 32:
            raise ValueError
    except ValueError:
        raise BadMessage("unlock_key: not an Ed25519 public key in hexadecimal") from None
    limit = reg.settings.escrow_requests_per_hour
    try:
        k_net, at = escrow.register(reg.db, box_id, ask.unlock_key, utcnow(), limit, _who(request))
    except BoxRevoked as exc:
        raise _refused(reg, exc) from None
    log.info("box %s registered its unlock key", box_id)
    return _wire(reg, request, nonce, p.EscrowSecret(k_net, at))


@post(
    "/v1/escrow/release",
    operation_id="releaseUnlockSecret",
    status_code=200,
    sync_to_thread=True,
    request_max_body_size=ESCROW_MAX_BYTES,
)
def release(request: Req, state: State, body: RawBody) -> Response[bytes]:
    """A box after a reboot (signed with its unlock key) asks for the secret that opens its
    registry key slot; refused for a box reported stolen."""
    reg = registry_of(state)
    _check_protocol(request)
    _offered(reg, request, p.ESCROW)
    box_id, time, nonce, signature = _signature(request, "the box must sign it with its unlock key")
    key = escrow.unlock_key(reg.db, box_id)
    if key is None:
        raise NoUnlockKey("This box has registered no unlock key with the registry")
    signed = p.signing_string("POST", request.url.path, box_id, time, nonce, body)
    if not p.verify(key, signature, signed):
        raise BadSignature("The request's signature does not match the box's unlock key")
    now = utcnow()
    if not note_nonce(reg.db, box_id, nonce, now):
        raise Replayed("A request with this nonce was already received from this box")
    ask: p.EscrowRelease = _decode(body, p.EscrowRelease, ESCROW_MAX_BYTES)
    who = f"{_who(request)}, boot {ask.boot_id[:64] or 'unknown'}"
    limit = reg.settings.escrow_requests_per_hour
    try:
        k_net, at = escrow.release(reg.db, box_id, now, limit, who)
    except BoxRevoked as exc:
        raise _refused(reg, exc) from None
    log.info("released the unlock secret of box %s, %s", box_id, who)
    return _wire(reg, request, nonce, p.EscrowSecret(k_net, at))


ESCROW_ROUTES = [register, release]
