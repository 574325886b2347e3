"""The key slots around the data key (edge/keys): each slot opens the same key, only for its
owner; the runtime file; the encrypted journal and device key."""

from __future__ import annotations

import json
import multiprocessing
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from edge.errors import BoxLocked
from edge.identity import create_device_key, load_device_key, public_key_hex
from edge.journal.db import connect, opens, rekey, sqlite3
from edge.keys import box, runtime, seal, slots
from edge.keys.seal import KdfParams, Unsealed
from edge.settings import Settings, load_settings, write_settings

FAST = KdfParams(8192, 1)


def test_sealed_keys_open_only_with_their_private_key_and_info() -> None:
    private, public = seal.new_pair()
    sealed = seal.seal(public, b"k" * 32, b"box|slot")
    assert seal.open_sealed(private, sealed, b"box|slot") == b"k" * 32
    with pytest.raises(Unsealed):
        seal.open_sealed(private, sealed, b"box|other-slot")
    with pytest.raises(Unsealed):
        seal.open_sealed(seal.new_pair()[0], sealed, b"box|slot")


def test_a_user_slot_opens_with_the_password_only(tmp_path: Path) -> None:
    ks = slots.new_slots(tmp_path, "box-1")
    dk = seal.new_key()
    slots.set_user(ks, dk, "Clerk", "right password 1", FAST)
    assert slots.open_user(ks, "clerk", "right password 1") == dk  # usernames: any case
    for name, password in (("clerk", "wrong password"), ("nobody", "right password 1")):
        with pytest.raises(Unsealed):
            slots.open_user(ks, name, password)
    slots.save(ks)
    text = ks.path.read_text()
    assert "clerk" not in text.lower() and dk.hex() not in text  # no names, no key
    assert stat.S_IMODE(ks.path.stat().st_mode) == 0o600
    again = slots.load(tmp_path)
    assert again is not None and slots.open_user(again, "CLERK", "right password 1") == dk


def test_reseal_gives_every_slot_the_new_key_without_passwords(tmp_path: Path) -> None:
    ks = slots.new_slots(tmp_path, "box-1")
    old, new = seal.new_key(), seal.new_key()
    slots.set_user(ks, old, "clerk", "right password 1", FAST)
    recovery_private, recovery_public = seal.new_pair()
    slots.add_sealed(ks, old, slots.RECOVERY, "recovery", recovery_public)
    slots.reseal(ks, new)
    assert slots.open_user(ks, "clerk", "right password 1") == new
    found = ks.find("recovery")
    assert found is not None and slots.open_with_private(ks, found, recovery_private) == new


def test_the_setup_slot_goes_once_another_slot_exists(tmp_path: Path) -> None:
    ks = slots.new_slots(tmp_path, "box-1")
    dk = seal.new_key()
    slots.set_setup(ks, dk)
    assert slots.setup_key(ks) == dk
    assert not slots.drop_setup(ks)  # alone: the box would have no key at all
    slots.set_user(ks, dk, "admin", "right password 1", FAST)
    assert slots.drop_setup(ks) and ks.rekey_due and slots.setup_key(ks) is None


def _box(tmp_path: Path) -> Settings:
    write_settings(
        tmp_path,
        {
            "box_id": "box-1",
            "office_id": "o-1",
            "runtime_dir": str(tmp_path / "run"),
            "keyslot_argon2_memory_kib": 8192,
            "keyslot_argon2_iterations": 1,
        },
    )
    return load_settings(tmp_path)


def test_the_runtime_key_unlocks_and_a_password_unlocks_again(tmp_path: Path) -> None:
    settings = _box(tmp_path)
    dk = box.create(settings, setup=False)
    assert runtime.read_key(settings) == dk
    box.set_user_password(settings, "admin", "right password 1")
    runtime.forget(settings)  # a reboot
    assert box.data_key(settings) is None
    with pytest.raises(BoxLocked):
        box.require_key(settings)
    assert box.unlock_with_password(settings, "admin", "wrong password!") is None
    assert box.data_key(settings) is None  # a wrong password never unlocks
    assert box.unlock_with_password(settings, "admin", "right password 1") == dk
    assert box.data_key(settings) == dk
    key_file = runtime.key_path(settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Another box's runtime file is not this box's key.
    key_file.write_text(json.dumps({"box_id": "box-2", "key": dk.hex()}))
    assert runtime.read_key(settings) is None


def _set_password(home: Path, username: str) -> None:
    box.set_user_password(load_settings(home), username, f"password of {username}")


def test_slots_changed_at_the_same_moment_by_several_processes_are_all_kept(
    tmp_path: Path,
) -> None:
    """The web (a login), the worker and the CLI each read, change and write the slots: none
    may write back a copy that lacks another's change."""
    settings = _box(tmp_path)
    dk = box.create(settings, setup=False)
    names = [f"user{i}" for i in range(8)]
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(_set_password, [tmp_path] * len(names), names))
    runtime.forget(settings)
    for name in names:
        assert box.unlock_with_password(settings, name, f"password of {name}") == dk, name


def test_a_removed_user_no_longer_unlocks(tmp_path: Path) -> None:
    settings = _box(tmp_path)
    box.create(settings, setup=False)
    box.set_user_password(settings, "clerk", "right password 1")
    box.remove_user(settings, "clerk")
    runtime.forget(settings)
    assert box.unlock_with_password(settings, "clerk", "right password 1") is None


def test_the_journal_is_unreadable_without_its_key_and_rekeys(tmp_path: Path) -> None:
    path, key, new = tmp_path / "journal.db", seal.new_key(), seal.new_key()
    conn = connect(path, key=key)
    conn.execute("CREATE TABLE t (name TEXT)")
    conn.execute("INSERT INTO t VALUES ('Sara Haddad')")
    conn.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("journal.db*"))
    assert b"Sara Haddad" not in raw and b"SQLite format 3" not in raw
    assert opens(path, key) and not opens(path, None) and not opens(path, new)
    with pytest.raises(sqlite3.DatabaseError):
        connect(path, key=new).execute("SELECT * FROM t").fetchall()
    rekey(path, key, new)
    assert connect(path, key=new).execute("SELECT name FROM t").fetchone()[0] == "Sara Haddad"
    assert not opens(path, key)


def test_the_device_key_is_wrapped_by_the_data_key(tmp_path: Path) -> None:
    dk = seal.new_key()
    public = create_device_key(tmp_path / "device.key", dk)
    assert b"PRIVATE KEY" not in (tmp_path / "device.key").read_bytes()
    assert public_key_hex(load_device_key(tmp_path / "device.key", dk)) == public
    with pytest.raises(BoxLocked):
        load_device_key(tmp_path / "device.key")  # not a box, so no unlocked key
    with pytest.raises(BoxLocked):
        load_device_key(tmp_path / "device.key", seal.new_key())
