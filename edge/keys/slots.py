"""`keyslots.json`: the only places the data key (DK) is kept on disk, each time wrapped.

Every slot but `setup` is an X25519 key pair: `public` (plain) and `sealed_dk` (DK sealed to
it, info = box id || slot id). Only the slot's owner can get the private key:

- `user`: wrapped under the key of the user's password (Argon2id + HKDF); the id is
  sha256(box salt || lower(username)), so the file does not list usernames;
- `registry`: wrapped under a key the registry releases (built by the registry escrow:
  `add_sealed` / `open_with_private` plus its own fields in the slot);
- `recovery`: held offline by the country's IT; only the public key is here.

`setup` holds DK in the clear, only while the journal has never held personal data (first
boot of an image, the migration of a plain journal); it goes as soon as another slot exists.

Sealing to public keys lets `reseal` give every slot a new DK without any password.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.keys import seal
from edge.keys.seal import KdfParams, Unsealed

FILE = "keyslots.json"
VERSION = 1
USER, REGISTRY, RECOVERY, SETUP = "user", "registry", "recovery", "setup"
Slot = dict[str, Any]


@dataclass
class KeySlots:
    """The slots of one box, as read from (and written back to) its file."""

    path: Path
    box_id: str
    salt: bytes
    slots: list[Slot] = field(default_factory=list)
    rekey_due: bool = False  # the setup slot went: a new DK as soon as the box is stopped

    def kinds(self, kind: str) -> Iterator[Slot]:
        return (s for s in self.slots if s["kind"] == kind)

    def find(self, slot_id: str) -> Slot | None:
        return next((s for s in self.slots if s["id"] == slot_id), None)

    def remove(self, slot_id: str) -> bool:
        before = len(self.slots)
        self.slots = [s for s in self.slots if s["id"] != slot_id]
        return len(self.slots) != before

    def info(self, slot_id: str) -> bytes:
        return f"{self.box_id}|{slot_id}".encode()


def new_slots(home: Path, box_id: str) -> KeySlots:
    return KeySlots(home / FILE, box_id, os.urandom(16))


def load(home: Path) -> KeySlots | None:
    """The box's slots, or None for a box made before encryption at rest (a plain journal)."""
    return load_file(home / FILE)


def load_file(path: Path) -> KeySlots | None:
    """Slots from a file (a box's, or a copy beside a backup); None when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: unknown version {data.get('version')!r}")
    return KeySlots(
        path,
        data["box_id"],
        bytes.fromhex(data["box_salt"]),
        list(data["slots"]),
        bool(data.get("rekey_due")),
    )


def save(ks: KeySlots) -> None:
    """Write atomically (temporary file, fsync, rename, fsync of the folder), mode 0600."""
    body = {
        "version": VERSION,
        "box_id": ks.box_id,
        "box_salt": ks.salt.hex(),
        "rekey_due": ks.rekey_due,
        "slots": ks.slots,
    }
    write_private(ks.path, (json.dumps(body, indent=1) + "\n").encode())


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data`, readable by this user only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def user_slot_id(ks: KeySlots, username: str) -> str:
    return hashlib.sha256(ks.salt + username.strip().lower().encode()).hexdigest()


def set_user(ks: KeySlots, dk: bytes, username: str, password: str, params: KdfParams) -> None:
    """Give `username` a slot opened by `password` (replacing theirs). Costs one Argon2id."""
    slot_id = user_slot_id(ks, username)
    salt = os.urandom(16)
    kek = seal.password_key(password, salt, params)
    private, public = seal.new_pair()
    ks.remove(slot_id)
    ks.slots.append(
        {
            "kind": USER,
            "id": slot_id,
            "public": public.hex(),
            "sealed_dk": seal.seal(public, dk, ks.info(slot_id)).hex(),
            "salt": salt.hex(),
            "kdf": {"m": params.memory_kib, "t": params.iterations, "p": params.lanes},
            "wrapped_private": seal.wrap(kek, private, ks.info(slot_id)).hex(),
        }
    )


def open_user(ks: KeySlots, username: str, password: str) -> bytes:
    """DK from `username`'s slot, or Unsealed. Without a slot the same Argon2id is spent on a
    decoy, so the answer takes as long and does not tell which usernames have a slot."""
    return open_user_candidates(ks, username, password)[0]


def open_user_candidates(ks: KeySlots, username: str, password: str) -> list[bytes]:
    """As `open_user`, with the next DK too while a rekey was under way (a power cut between
    the journal's new key and this file's: one of the two opens the journal)."""
    slot = ks.find(user_slot_id(ks, username))
    if slot is None or slot["kind"] != USER:
        other = next(ks.kinds(USER), None)  # the same cost as the box's real slots
        seal.password_key(password, os.urandom(16), _params(other) if other else KdfParams())
        raise Unsealed("no slot")
    kek = seal.password_key(password, bytes.fromhex(slot["salt"]), _params(slot))
    private = seal.unwrap(kek, bytes.fromhex(slot["wrapped_private"]), ks.info(slot["id"]))
    return candidates(ks, slot, private)


def _params(slot: Slot) -> KdfParams:
    kdf = slot["kdf"]
    return KdfParams(kdf["m"], kdf["t"], kdf["p"])


def add_sealed(
    ks: KeySlots, dk: bytes, kind: str, slot_id: str, public: bytes, **extra: Any
) -> Slot:
    """A slot of `kind` sealed to `public` (registry, recovery): `extra` is kept in it as is."""
    ks.remove(slot_id)
    slot: Slot = {
        "kind": kind,
        "id": slot_id,
        "public": public.hex(),
        "sealed_dk": seal.seal(public, dk, ks.info(slot_id)).hex(),
        **extra,
    }
    ks.slots.append(slot)
    return slot


def open_with_private(ks: KeySlots, slot: Slot, private: bytes) -> bytes:
    """DK from a slot given its private key (raw X25519), or Unsealed."""
    return seal.open_sealed(private, bytes.fromhex(slot["sealed_dk"]), ks.info(slot["id"]))


def candidates(ks: KeySlots, slot: Slot, private: bytes) -> list[bytes]:
    """DK (and the next DK, during a rekey) from a slot given its private key, or Unsealed."""
    found = [open_with_private(ks, slot, private)]
    if "next_sealed_dk" in slot:
        found.append(
            seal.open_sealed(private, bytes.fromhex(slot["next_sealed_dk"]), ks.info(slot["id"]))
        )
    return found


def set_setup(ks: KeySlots, dk: bytes) -> None:
    ks.remove(SETUP)
    ks.slots.append({"kind": SETUP, "id": SETUP, "dk": dk.hex()})


def setup_key(ks: KeySlots) -> bytes | None:
    slot = ks.find(SETUP)
    return bytes.fromhex(slot["dk"]) if slot else None


def setup_candidates(ks: KeySlots) -> list[bytes]:
    slot = ks.find(SETUP)
    if slot is None:
        return []
    return [bytes.fromhex(slot[k]) for k in ("dk", "next_dk") if k in slot]


def drop_setup(ks: KeySlots) -> bool:
    """The setup slot goes once another slot exists; the DK it showed is then replaced at the
    next rekey (`rekey_due`)."""
    if ks.find(SETUP) is None or len(ks.slots) < 2:
        return False
    ks.remove(SETUP)
    ks.rekey_due = True
    return True


def prepare_rekey(ks: KeySlots, new: bytes) -> None:
    """Before `PRAGMA rekey`: every slot also opens the new DK (`next_…`), so whichever key
    the journal has after a power cut, a slot opens it. `finish_rekey` makes it the only one."""
    for slot in ks.slots:
        if slot["kind"] == SETUP:
            slot["next_dk"] = new.hex()
        else:
            slot["next_sealed_dk"] = seal.seal(
                bytes.fromhex(slot["public"]), new, ks.info(slot["id"])
            ).hex()


def finish_rekey(ks: KeySlots) -> None:
    for slot in ks.slots:
        if "next_dk" in slot:
            slot["dk"] = slot.pop("next_dk")
        if "next_sealed_dk" in slot:
            slot["sealed_dk"] = slot.pop("next_sealed_dk")
    ks.rekey_due = False


def reseal(ks: KeySlots, dk: bytes) -> None:
    """Every slot opens `dk` from now on (after `PRAGMA rekey`): sealed slots are re-sealed to
    their public keys, a setup slot is rewritten."""
    for slot in ks.slots:
        if slot["kind"] == SETUP:
            slot["dk"] = dk.hex()
        else:
            slot["sealed_dk"] = seal.seal(
                bytes.fromhex(slot["public"]), dk, ks.info(slot["id"])
            ).hex()
    ks.rekey_due = False


__all__ = ["KdfParams", "KeySlots", "Unsealed"]
