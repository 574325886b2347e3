"""The registry escrow against a real registry process: a box registers its unlock key and
gets its secret, asks for it again with that key only, is refused (and logged) once reported
stolen, until the operator lifts it; requests are counted; a registry that does not answer
fails in the time given."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from edge.identity import create_device_key
from tests.helpers import REGISTRY, ROOT, Registry, registry_cli, start_registry, stop_process
from upstream_sync import escrow
from upstream_sync import protocol as p
from upstream_sync.transport import Enrollment, RegistryRefused, signed_exchange

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def bare_box(tmp_path: Path, registry: Registry, name: str = "box") -> tuple[Enrollment, Path]:
    """A box's keys enrolled with the registry, as `edge enroll` does: (enrollment, home)."""
    home = tmp_path / name
    home.mkdir()
    public = create_device_key(home / "device.key")
    body = p.encode(p.EnrollRequest(registry.token(), public, name, "office-1"))
    headers = {"content-type": p.MEDIA_TYPE, p.H_PROTOCOL: p.PROTOCOL}
    r = httpx.post(registry.url + "/v1/enroll", content=body, headers=headers)
    r.raise_for_status()
    answer: p.EnrollResponse = p.decode(r.content, p.EnrollResponse)
    return Enrollment(registry.url, answer.box_id, answer.registry_key), home


def test_a_box_gets_its_secret_with_its_unlock_key_only(tmp_path: Path, registry: Registry) -> None:
    who, home = bare_box(tmp_path, registry)
    secret = escrow.register(who, home / "device.key", home, NOW)
    assert len(secret) == 32
    assert (home / "unlock.key").stat().st_mode & 0o077 == 0
    # Registered again with the same key (a retried request): the same secret.
    assert escrow.register(who, home / "device.key", home, NOW) == secret
    assert escrow.release(who, home, "boot-1", NOW) == secret
    # The device key cannot ask for it in the unlock key's place.
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / "unlock.key").write_bytes((home / "device.key").read_bytes())
    with pytest.raises(RegistryRefused) as refused:
        escrow.release(who, forged, "boot-1", NOW)
    assert refused.value.answered == 401 and "unlock key" in refused.value.detail
    # The unlock key is good for nothing else.
    pull = p.encode(p.PullRequest(0))
    with pytest.raises(RegistryRefused) as refused:
        signed_exchange(who, home / "unlock.key", "/v1/pull", pull, NOW, 10)
    assert refused.value.answered == 401 and "enrolled key" in refused.value.detail
    assert signed_exchange(who, home / "device.key", "/v1/pull", pull, NOW, 10).body
    # Another box's unlock key neither.
    other, other_home = bare_box(tmp_path, registry, "other")
    other_secret = escrow.register(other, other_home / "device.key", other_home, NOW)
    assert other_secret != secret
    with pytest.raises(RegistryRefused) as refused:
        escrow.release(who, other_home, "boot-1", NOW)
    assert refused.value.answered == 401
    # A new unlock key gets a new secret; the old key asks for nothing any more.
    old = home / "old.key"
    (home / "unlock.key").rename(old)
    renewed = escrow.register(who, home / "device.key", home, NOW)
    assert renewed != secret and escrow.release(who, home, "boot-2", NOW) == renewed
    old.rename(home / "unlock.key")
    with pytest.raises(RegistryRefused) as refused:
        escrow.release(who, home, "boot-2", NOW)
    assert refused.value.answered == 401


def test_a_box_reported_stolen_is_refused_and_logged_until_lifted(
    tmp_path: Path, registry: Registry
) -> None:
    who, home = bare_box(tmp_path, registry)
    secret = escrow.register(who, home / "device.key", home, NOW)
    said = registry_cli(
        registry.home, "box", "revoke", who.box_id, "--reason", "taken in a break-in"
    ).stdout
    assert "reported stolen" in said
    with pytest.raises(RegistryRefused) as refused:
        escrow.release(who, home, "boot-7", NOW)
    assert escrow.reported_stolen(refused.value)
    assert "reported stolen" in refused.value.detail
    assert "taken in a break-in" in refused.value.detail
    assert "logging in" in refused.value.detail
    # A box still running cannot register a new key either.
    with pytest.raises(RegistryRefused) as refused:
        escrow.register(who, home / "device.key", home, NOW)
    assert escrow.reported_stolen(refused.value)
    listed = registry_cli(registry.home, "boxes").stdout
    assert f"{who.box_id}" in listed and "(reported stolen)" in listed
    shown = registry_cli(registry.home, "box", "show", who.box_id).stdout
    assert "reported stolen: " in shown and "taken in a break-in" in shown
    assert shown.count("refused") == 2 and "from 127.0.0.1, boot boot-7" in shown
    logged = (registry.home / "registry.log").read_text()
    assert f"refused the unlock secret of box {who.box_id} (reported stolen)" in logged
    # Lifted: the same secret again (the box's slot still opens).
    registry_cli(registry.home, "box", "unrevoke", who.box_id, "--reason", "found")
    assert escrow.release(who, home, "boot-8", NOW) == secret
    again = registry_cli(registry.home, "box", "show", who.box_id).stdout
    assert "reported stolen: no" in again and "unrevoked" in again


def test_an_unknown_box_cannot_be_revoked(registry: Registry) -> None:
    done = subprocess.run(
        [*REGISTRY, "--home", str(registry.home), "box", "revoke", "nope", "--reason", "x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "No box nope is enrolled" in done.stderr


def test_requests_are_counted_and_the_escrow_can_be_turned_off(tmp_path: Path) -> None:
    home = tmp_path / "registry"
    home.mkdir()
    registry = start_registry(home, env={"EDGE_REGISTRY_ESCROW_REQUESTS_PER_HOUR": "3"})
    try:
        who, box = bare_box(tmp_path, registry)
        escrow.register(who, box / "device.key", box, NOW)
        escrow.release(who, box, "b", NOW)
        escrow.release(who, box, "b", NOW)
        with pytest.raises(RegistryRefused) as refused:
            escrow.release(who, box, "b", NOW)
        assert refused.value.answered == 429 and "3 times within an hour" in refused.value.detail
    finally:
        stop_process(registry.process)
    off = {"EDGE_REGISTRY_CAPABILITIES": "push.v1,pull.v1"}
    registry = start_registry(home, registry.admin_token, env=off)
    try:
        with pytest.raises(RegistryRefused) as refused:
            escrow.release(replace(who, url=registry.url), box, "b", NOW)
        assert refused.value.answered == 404 and "escrow.v1" in refused.value.detail
    finally:
        stop_process(registry.process)


def test_a_registry_that_does_not_answer_fails_in_the_time_given(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # connections queue, nothing ever answers
    try:
        who = Enrollment(f"http://127.0.0.1:{silent.getsockname()[1]}", "box", "00" * 32)
        create_device_key(tmp_path / "unlock.key")
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            escrow.release(who, tmp_path, "b", NOW, timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        silent.close()
