"""The registry key slot on the box (upstream_sync/unlocking.py): it opens only with the
registry's secret for this box, it is made again for another enrollment, and a process asks
the registry no more often than its backoff allows."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from edge.identity import create_device_key
from edge.keys import box, runtime, seal, slots
from edge.settings import Settings, load_settings, write_settings
from upstream_sync import unlocking
from upstream_sync.transport import Enrollment


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    write_settings(
        tmp_path,
        {"box_id": "box-1", "office_id": "o-1", "runtime_dir": str(tmp_path / "run")},
    )
    return load_settings(tmp_path)


@pytest.fixture(autouse=True)
def fresh_backoff() -> None:
    for b in unlocking._backoff.values():
        b.done()


def _slot(settings: Settings, who: Enrollment, k_net: bytes) -> bytes:
    """A box with a registry slot opened by `k_net`, as `create_slot` leaves it: its DK."""
    dk = box.create(settings, setup=False)
    ks = box.load_slots(settings)
    assert ks is not None
    private, public = seal.new_pair()
    wrapped = seal.wrap(unlocking._kek(k_net, ks), private, ks.info(unlocking.SLOT_ID))
    box.add_sealed_slot(
        settings,
        slots.REGISTRY,
        unlocking.SLOT_ID,
        public,
        wrapped_private=wrapped.hex(),
        url=who.url,
        registry_box_id=who.box_id,
        registry_key=who.registry_key,
    )
    return dk


def test_the_slot_opens_with_the_registry_s_secret_for_this_box_only(settings: Settings) -> None:
    who = Enrollment("http://127.0.0.1:9", "reg-box-1", "ab" * 32)
    k_net = seal.new_key()
    dk = _slot(settings, who, k_net)
    ks = box.load_slots(settings)
    assert ks is not None
    slot = ks.find(unlocking.SLOT_ID)
    assert slot is not None and unlocking.slot_enrollment(slot) == who
    text = ks.path.read_text()
    assert k_net.hex() not in text and dk.hex() not in text
    aad = ks.info(unlocking.SLOT_ID)
    private = seal.unwrap(unlocking._kek(k_net, ks), bytes.fromhex(slot["wrapped_private"]), aad)
    assert slots.open_with_private(ks, slot, private) == dk
    with pytest.raises(seal.Unsealed):
        seal.unwrap(unlocking._kek(seal.new_key(), ks), bytes.fromhex(slot["wrapped_private"]), aad)
    # Enrolled again (another registry, or another id there): a new slot is due.
    assert not unlocking.needs_slot(settings, who)
    assert unlocking.needs_slot(settings, Enrollment(who.url, "reg-box-2", who.registry_key))


def test_a_locked_box_asks_no_more_often_than_its_backoff(settings: Settings) -> None:
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    listening.close()  # nothing answers there: refused at once
    _slot(settings, Enrollment(f"http://127.0.0.1:{port}", "reg-box-1", "ab" * 32), b"k" * 32)
    create_device_key(settings.home / "unlock.key")
    runtime.forget(settings)
    started = time.monotonic()
    assert unlocking.unlock_by_registry(settings) is None  # asked: no connection
    backoff = unlocking._backoff["unlock"]
    assert not backoff.due() and 2.5 <= backoff.next_at - started <= 5.5
    assert "cannot be reached" in backoff.said
    assert unlocking.unlock_by_registry(settings) is None  # not asked again yet
    backoff.failed()
    backoff.failed(most=True)  # reported stolen: every 10 minutes
    assert backoff.step == unlocking.MOST_WAIT
    backoff.done()
    assert backoff.due()
