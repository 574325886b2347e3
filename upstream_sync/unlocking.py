"""The registry key slot: how a box unlocks after a reboot with nobody logged in.

The slot is an X25519 key pair like every slot (edge/keys/slots.py): the data key is sealed
to its public key, and its private key is wrapped (AES-GCM) under HKDF-SHA256(K_net,
info = the box id), where K_net is the secret the registry keeps for the box
(upstream_sync/escrow.py). K_net is never written on the box. The slot also keeps the
registry's address, the box's id there and the registry's key: the journal, where the box
keeps them otherwise, is what the slot opens.

- `ensure_slot`: while unlocked and enrolled, the worker (and `edge enroll`) registers the
  box's unlock key and writes the slot, when the box has none for its registry yet.
- `unlock_by_registry`: one of the ways to unlock with nobody there (edge.keys.box's
  UNATTENDED), tried by the worker while it waits and by `edge serve` at start. It asks the
  registry at most as often as its backoff allows: 5 s, doubling to 10 minutes, with
  jitter; a box reported stolen asks every 10 minutes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass

from edge.clock import boot_id, utcnow
from edge.journal.reads import Reader
from edge.keys import box as keybox
from edge.keys import seal, slots
from edge.keys.seal import Unsealed
from edge.keys.slots import KeySlots, Slot
from edge.settings import Settings
from upstream_sync import capabilities, escrow
from upstream_sync import protocol as p
from upstream_sync.transport import EXCHANGE_ERRORS, Enrollment, describe

log = logging.getLogger("upstream_sync.unlocking")

SLOT_ID = "registry"
FIRST_WAIT, MOST_WAIT = 5.0, 600.0


def _kek(k_net: bytes, ks: KeySlots) -> bytes:
    return seal.hkdf(k_net, ks.box_id.encode())


def slot_enrollment(slot: Slot) -> Enrollment:
    """The registry a slot asks, as the slot keeps it."""
    return Enrollment(slot["url"], slot["registry_box_id"], slot["registry_key"])


def needs_slot(settings: Settings, who: Enrollment) -> bool:
    """Whether this (encrypted) box lacks a registry slot for the registry it is enrolled
    with (none yet: just enrolled, or upgraded; or one for another registry or enrollment)."""
    ks = keybox.load_slots(settings)
    if ks is None:
        return False  # a plain journal from before encryption at rest: nothing to open
    slot = ks.find(SLOT_ID)
    return slot is None or slot_enrollment(slot) != who


def create_slot(settings: Settings, who: Enrollment) -> None:
    """Register the unlock key with the registry (signed with the device key) and write the
    registry slot. The box must be unlocked; raises what the exchange raises."""
    ks = keybox.load_slots(settings)
    if ks is None:
        return
    k_net = escrow.register(who, settings.device_key_path, settings.home, utcnow())
    private, public = seal.new_pair()
    wrapped = seal.wrap(_kek(k_net, ks), private, ks.info(SLOT_ID))
    keybox.add_sealed_slot(
        settings,
        slots.REGISTRY,
        SLOT_ID,
        public,
        wrapped_private=wrapped.hex(),
        url=who.url,
        registry_box_id=who.box_id,
        registry_key=who.registry_key,
    )
    log.info(
        "the registry key slot was made: the box unlocks after a reboot once %s answers", who.url
    )


@dataclass
class _Backoff:
    """When this process may ask the registry again (monotonic), and how long it waited."""

    next_at: float = 0.0
    step: float = 0.0
    said: str = ""

    def due(self) -> bool:
        return time.monotonic() >= self.next_at

    def failed(self, most: bool = False) -> None:
        self.step = MOST_WAIT if most else min(MOST_WAIT, max(FIRST_WAIT, self.step * 2))
        self.next_at = time.monotonic() + self.step * random.uniform(0.5, 1.0)

    def done(self) -> None:
        self.next_at, self.step, self.said = 0.0, 0.0, ""

    def say(self, message: str) -> None:
        """Log a failure once, not at every try."""
        if message != self.said:
            log.warning("%s", message)
            self.said = message


_backoff = {"unlock": _Backoff(), "create": _Backoff()}
_lock = threading.Lock()


def unlock_by_registry(settings: Settings) -> bytes | None:
    """The data key from the registry slot (the box is then unlocked), or None: no slot, not
    yet time to ask again, the registry cannot be reached or refused."""
    ks = keybox.load_slots(settings)
    slot = ks.find(SLOT_ID) if ks else None
    if ks is None or slot is None:
        return None
    backoff = _backoff["unlock"]
    with _lock:
        if not backoff.due():
            return None
        backoff.failed()  # until this try succeeds: one try at a time per process
    who = slot_enrollment(slot)
    try:
        k_net = escrow.release(who, settings.home, boot_id(), utcnow())
    except EXCHANGE_ERRORS as exc:
        stolen = escrow.reported_stolen(exc)
        with _lock:
            if stolen:
                backoff.failed(most=True)
            backoff.say(
                f"the registry did not unlock the box ({describe(exc)}); staff unlock it by "
                "logging in"
            )
        return None
    try:
        private = seal.unwrap(
            _kek(k_net, ks), bytes.fromhex(slot["wrapped_private"]), ks.info(SLOT_ID)
        )
    except (Unsealed, KeyError, ValueError):
        with _lock:
            backoff.failed(most=True)
            backoff.say("the registry's secret does not open the registry key slot")
        return None
    dk = keybox.open_slot(settings, SLOT_ID, private)
    if dk is not None:
        with _lock:
            backoff.done()
    return dk


def ensure_slot(settings: Settings, who: Enrollment | None, offered: bool = True) -> bool:
    """Make the registry slot when this unlocked box is enrolled and lacks one (and its
    registry offers escrow); True when it made one. Never raises: a failure is logged and
    tried again after a backoff."""
    if who is None or not offered or not needs_slot(settings, who):
        return False
    backoff = _backoff["create"]
    with _lock:
        if not backoff.due():
            return False
        backoff.failed()
    try:
        create_slot(settings, who)
    except EXCHANGE_ERRORS as exc:
        with _lock:
            backoff.say(f"the registry key slot could not be made: {describe(exc)}")
        return False
    except Exception:
        log.warning("the registry key slot could not be made", exc_info=True)
        return False
    with _lock:
        backoff.done()
    return True


def escrow_offered(reader: Reader) -> bool:
    """Whether the box's registry keeps unlock secrets (as the box last heard)."""
    return capabilities.speaks(reader.conn(), p.ESCROW)


def install() -> None:
    """Let the box's unattended unlock (worker, `edge serve`) try the registry slot."""
    if unlock_by_registry not in keybox.UNATTENDED:
        keybox.UNATTENDED.append(unlock_by_registry)
