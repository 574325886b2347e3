"""What the box's commands and processes call to get, make and keep the data key (DK).

Order in which a process finds DK: the runtime file (someone already unlocked), the setup slot
(a box that has never held personal data), then what the caller can offer: a staff member's
password (`unlock_with_password`), a registry's or the recovery private key (`open_slot`).
Every successful unlock writes the runtime file, so the box's other processes see it unlocked.

The registry's slot plugs in with three calls:
- while unlocked: `add_sealed_slot(settings, "registry", "registry", public, wrapped_private=…)`
  (a fresh X25519 pair from `seal.new_pair()`, its private key wrapped with `seal.wrap` under
  HKDF(K_net, info=box id); any extra fields are kept in the slot as given; a setup slot then
  goes and a new key is due);
- when locked: `open_slot(settings, "registry", private)` once K_net unwraps the private key
  (`load_slots(settings).find("registry")` gives the slot's fields);
- `UNATTENDED.append(fn)`: `fn(settings) -> bytes | None` is tried by the worker while it waits
  and by `edge serve` while locked (with backoff), and by CLI commands.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from edge.errors import BoxLocked
from edge.keys import runtime, seal, slots
from edge.keys.seal import KdfParams, Unsealed
from edge.keys.slots import KeySlots
from edge.settings import Settings
from edge.texts import Text, tr

log = logging.getLogger("edge.keys")


@contextmanager
def _editing(settings: Settings) -> Iterator[KeySlots | None]:
    """The key slots, read, changed and saved under an exclusive lock: a login (the web), the
    registry slot and the users the registry removed (the worker) and the CLI may change them
    at the same moment, and none may write back a copy that misses another's change."""
    with open(settings.home / "keyslots.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield slots.load(settings.home)


def locked_message() -> Text:
    """Why a locked box cannot answer, and what unlocks it."""
    return tr(
        "The box is locked: its data is encrypted and no one has unlocked it since it started. "
        "A member of staff who logs in unlocks it."
    )


def kdf_params(settings: Settings) -> KdfParams:
    return KdfParams(settings.keyslot_argon2_memory_kib, settings.keyslot_argon2_iterations)


def create(settings: Settings, *, setup: bool) -> bytes:
    """A new DK and slots file for a new box (`edge init`); the box starts unlocked. `setup`
    keeps DK in a setup slot (a box with no user yet: first boot of an image)."""
    dk = seal.new_key()
    ks = slots.new_slots(settings.home, settings.box_id)
    if setup:
        slots.set_setup(ks, dk)
    slots.save(ks)
    runtime.write_key(settings, dk)
    return dk


def load_slots(settings: Settings) -> KeySlots | None:
    return slots.load(settings.home)


def encrypted(settings: Settings) -> bool:
    """Whether this box keeps its journal encrypted (every box made or migrated since)."""
    return (settings.home / slots.FILE).exists()


def journal_opens(settings: Settings, key: bytes) -> bool:
    """Whether `key` reads the box's journal (or there is no journal yet)."""
    from sqlcipher3 import dbapi2

    if not settings.journal_path.exists():
        return True
    conn = dbapi2.connect(str(settings.journal_path))
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except dbapi2.DatabaseError:
        return False
    finally:
        conn.close()


def _pick(settings: Settings, found: list[bytes]) -> bytes | None:
    """The key that opens the journal: the only one, or (after a rekey cut short) the one of
    the two that does."""
    if len(found) <= 1:
        return found[0] if found else None
    return next((k for k in found if journal_opens(settings, k)), None)


def data_key(settings: Settings) -> bytes | None:
    """DK if the box is unlocked (or has only a setup slot), else None."""
    dk = runtime.read_key(settings)
    if dk is not None:
        return dk
    ks = slots.load(settings.home)
    dk = _pick(settings, slots.setup_candidates(ks)) if ks else None
    if dk is not None:
        runtime.write_key(settings, dk)
    return dk


# Ways to unlock with nobody there, tried in order by `unlock_unattended` (the worker while it
# waits, `edge serve` at start). Each returns DK (having unlocked the box: `open_slot` does)
# or None, and must not raise. The registry escrow adds its slot here.
Unlocker = Callable[[Settings], "bytes | None"]
UNATTENDED: list[Unlocker] = []


def unlock_unattended(settings: Settings) -> bytes | None:
    """DK if the box is unlocked, has a setup slot, or an unattended unlocker opens it."""
    dk = data_key(settings)
    for unlocker in UNATTENDED:
        if dk is not None:
            break
        try:
            dk = unlocker(settings)
        except Exception:  # one way failing must not stop the others (or the caller's loop)
            log.warning("an unattended unlock failed", exc_info=True)
    return dk


def require_key(settings: Settings) -> bytes:
    """DK, or BoxLocked saying how to unlock."""
    dk = data_key(settings)
    if dk is None:
        raise BoxLocked(locked_message())
    return dk


def unlock_with_password(settings: Settings, username: str, password: str) -> bytes | None:
    """DK if `password` opens `username`'s slot (then the box is unlocked), else None. Costs
    one slot Argon2id whether or not the user has a slot."""
    ks = slots.load(settings.home)
    if ks is None:
        return None
    try:
        dk = _pick(settings, slots.open_user_candidates(ks, username, password))
    except Unsealed:
        return None
    if dk is None:
        return None
    runtime.write_key(settings, dk)
    log.info("the box was unlocked by a staff login")
    return dk


def open_slot(settings: Settings, slot_id: str, private: bytes) -> bytes | None:
    """DK from a sealed slot (registry, recovery) given its private key; unlocks the box."""
    ks = slots.load(settings.home)
    slot = ks.find(slot_id) if ks else None
    if ks is None or slot is None:
        return None
    try:
        dk = _pick(settings, slots.candidates(ks, slot, private))
    except Unsealed:
        return None
    if dk is None:
        return None
    runtime.write_key(settings, dk)
    log.info("the box was unlocked by its %s slot", slot["kind"])
    return dk


def has_user_slot(settings: Settings, username: str) -> bool:
    ks = slots.load(settings.home)
    return ks is not None and ks.find(slots.user_slot_id(ks, username)) is not None


def set_user_password(settings: Settings, username: str, password: str) -> None:
    """A password was set or checked while unlocked: the user's slot opens with it from now
    on (and a setup slot goes, since the box now holds someone's data)."""
    dk = runtime.read_key(settings)
    if dk is None:
        return
    with _editing(settings) as ks:
        if ks is None:
            return
        slots.set_user(ks, dk, username, password, kdf_params(settings))
        if slots.drop_setup(ks):
            log.info("the setup key slot was removed; a new data key is made at the next restart")
        slots.save(ks)


def remove_user(settings: Settings, username: str) -> None:
    """A deactivated or removed user's password opens nothing any more."""
    with _editing(settings) as ks:
        if ks is not None and ks.remove(slots.user_slot_id(ks, username)):
            slots.save(ks)


def prune_users(settings: Settings, active_usernames: Iterable[str]) -> int:
    """Remove the slots of users who are no longer active here (deactivated by the registry,
    removed); returns how many went."""
    with _editing(settings) as ks:
        if ks is None:
            return 0
        keep = {slots.user_slot_id(ks, name) for name in active_usernames}
        gone = [s["id"] for s in ks.kinds(slots.USER) if s["id"] not in keep]
        for slot_id in gone:
            ks.remove(slot_id)
        if gone:
            slots.save(ks)
        return len(gone)


def add_sealed_slot(
    settings: Settings, kind: str, slot_id: str, public: bytes, **extra: object
) -> None:
    """A slot sealed to `public` (the registry escrow, the recovery key), while unlocked."""
    dk = require_key(settings)
    with _editing(settings) as ks:
        if ks is None:
            raise BoxLocked(locked_message())
        slots.add_sealed(ks, dk, kind, slot_id, public, **extra)
        slots.drop_setup(ks)
        slots.save(ks)


def rekey(settings: Settings, rekey_journal: Callable[[bytes, bytes], None]) -> None:
    """A new DK for the journal (`rekey_journal(old, new)`: PRAGMA rekey), the device key and
    every slot (sealed to their public keys: no password needed). Safe against a power cut at
    any point: until the end, every slot opens both keys. The box must be stopped."""
    from edge.identity import commit_device_key, stage_device_key

    old = require_key(settings)
    with _editing(settings) as ks:
        if ks is None:
            raise BoxLocked(locked_message())
        new = seal.new_key()
        slots.prepare_rekey(ks, new)
        slots.save(ks)
        stage_device_key(settings.device_key_path, old, new)
        rekey_journal(old, new)
        commit_device_key(settings.device_key_path)
        slots.finish_rekey(ks)
        slots.save(ks)
        runtime.write_key(settings, new)
    log.info("the box has a new data key; every key slot opens it")


def set_recovery_public(settings: Settings, public: bytes) -> None:
    """The country's recovery key opens this box from now on (replacing any other)."""
    from edge.keys.recovery import slot_id

    dk = require_key(settings)
    with _editing(settings) as ks:
        if ks is None:
            raise BoxLocked(locked_message())
        for old in [s["id"] for s in ks.kinds(slots.RECOVERY)]:
            ks.remove(old)
        slots.add_sealed(ks, dk, slots.RECOVERY, slot_id(public), public)
        slots.save(ks)


def open_recovery(settings: Settings, ks: KeySlots, private: bytes) -> bytes | None:
    """DK from the recovery slot of `ks` (the box's, or a backup's) with the private key."""
    from edge.keys.recovery import slot_id

    slot = ks.find(slot_id(seal.public_of(private)))
    if slot is None:
        return None
    try:
        return _pick(settings, slots.candidates(ks, slot, private))
    except Unsealed:
        return None
