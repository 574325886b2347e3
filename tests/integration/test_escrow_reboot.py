"""A box after a power cut, with real processes: its web side and worker are killed and its
runtime key is gone, as after a reboot. Its registry slot unlocks it with nobody logged in,
and the worker sends what waited; a box reported stolen stays locked until a member of staff
logs in (a wrong password never unlocks it); with the registry down, a staff login unlocks."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from edge.commands.init import DEMO_PASSWORD
from edge.keys import runtime
from edge.settings import load_settings
from tests.helpers import (
    Box,
    Registry,
    edge_cli,
    registry_cli,
    running_box,
    start_box,
    start_registry,
    start_worker,
    stop_box,
    stop_process,
    stop_worker,
)
from tests.integration.test_sync import declare
from tests.integration.test_upgrade_encrypts import make_plain

ENV = {"EDGE_SYNC_BACKOFF_MAX_SECONDS": "5"}


def eventually(check: Callable[[], bool], within: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"not within {within} s: {what}")


def slot_kinds(home: Path) -> list[str]:
    return [s["kind"] for s in json.loads((home / "keyslots.json").read_text())["slots"]]


def registry_box_id(home: Path) -> str:
    slot = next(
        s
        for s in json.loads((home / "keyslots.json").read_text())["slots"]
        if s["kind"] == "registry"
    )
    return str(slot["registry_box_id"])


def locked(box: Box) -> bool:
    r = httpx.get(box.url + "/readyz", timeout=10)
    return r.status_code == 503 and r.json().get("status") == "locked"


def national_ids(registry: Registry) -> set[str]:
    return {a["record_id"] for a in registry.journal()}


@contextmanager
def enrolled_box(tmp_path: Path, registry: Registry) -> Iterator[Path]:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo", "--office-id", "office-1")
    said = edge_cli(home, "enroll", registry.url, registry.token()).stdout
    assert "Enrolled with" in said
    assert "registry" in slot_kinds(home)  # made at enrollment
    assert (home / "unlock.key").exists()
    yield home


def test_the_registry_slot_unlocks_a_rebooted_box_with_nobody_logged_in(
    tmp_path: Path, registry: Registry
) -> None:
    with enrolled_box(tmp_path, registry) as home:
        box = start_box(home)
        record = declare(box.client("clerk"), "Sara")
        stop_box(box, signal.SIGKILL)
        runtime.forget(load_settings(home))  # the power cut, before anything was sent
        assert record not in national_ids(registry)
        box = start_box(home, ENV)
        worker = start_worker(home, ENV)
        try:
            eventually(lambda: record in national_ids(registry), what="the worker drained")
            eventually(lambda: not locked(box), what="the web side opened")
            assert box.client("clerk").get("/api/v1/outbox").status_code == 200
        finally:
            stop_worker(worker)
            stop_box(box)
        shown = registry_cli(registry.home, "box", "show", registry_box_id(home)).stdout
        assert "released" in shown


def test_a_box_reported_stolen_stays_locked_until_staff_log_in(
    tmp_path: Path, registry: Registry
) -> None:
    with enrolled_box(tmp_path, registry) as home:
        box = start_box(home)
        record = declare(box.client("clerk"), "Sara")
        stop_box(box, signal.SIGKILL)
        runtime.forget(load_settings(home))
        registry_cli(
            registry.home, "box", "revoke", registry_box_id(home), "--reason", "stolen at night"
        )
        box = start_box(home, ENV)
        worker = start_worker(home, ENV)
        try:

            def shown() -> str:
                return registry_cli(registry.home, "box", "show", registry_box_id(home)).stdout

            eventually(lambda: "refused" in shown(), what="the box asked and was refused")
            time.sleep(2)
            assert locked(box) and record not in national_ids(registry)
            api = httpx.get(box.url + "/api/v1/outbox", timeout=10)
            assert api.status_code == 503 and api.json()["code"] == "locked"
            # A wrong password never unlocks.
            wrong = httpx.post(
                box.url + "/api/v1/auth/login",
                json={"username": "clerk", "password": "not the password"},
                timeout=30,
            )
            assert wrong.status_code in (401, 403) and locked(box)
            # A member of staff logs in: unlocked, and the worker sends what waited.
            box.client("clerk", DEMO_PASSWORD)
            assert not locked(box)
            eventually(lambda: record in national_ids(registry), what="the worker drained")
        finally:
            stop_worker(worker)
            stop_box(box)
        assert "reported stolen" in (home / "worker.log").read_text()


def test_with_the_registry_down_a_staff_login_unlocks(tmp_path: Path) -> None:
    reg_home = tmp_path / "registry"
    reg_home.mkdir()
    registry = start_registry(reg_home)
    try:
        with enrolled_box(tmp_path, registry) as home:
            box = start_box(home)
            record = declare(box.client("clerk"), "Sara")
            stop_box(box, signal.SIGKILL)
            runtime.forget(load_settings(home))
            stop_process(registry.process)  # the WAN is down
            box = start_box(home, ENV)
            worker = start_worker(home, ENV)
            try:
                time.sleep(2)
                assert locked(box)
                box.client("clerk", DEMO_PASSWORD)
                assert not locked(box)
                page = box.client("clerk").get("/api/v1/outbox")
                assert page.status_code == 200
                # The WAN comes back: what waited goes.
                registry = start_registry(reg_home, registry.admin_token, port=_port(registry))
                eventually(lambda: record in national_ids(registry), what="the worker drained")
            finally:
                stop_worker(worker)
                stop_box(box)
    finally:
        stop_process(registry.process)


def _port(registry: Registry) -> int:
    return int(registry.url.rsplit(":", 1)[1])


def test_an_upgraded_box_gets_its_registry_slot_at_its_first_start(
    tmp_path: Path, registry: Registry
) -> None:
    with enrolled_box(tmp_path, registry) as home:
        with running_box(home) as box:
            first = declare(box.client("clerk"), "Sara")
            declare(box.client("clerk"), "Omar")
        make_plain(home)  # as the release before encryption at rest left it
        (home / "unlock.key").unlink()
        box = start_box(home, ENV)  # encrypts the journal in place
        worker = start_worker(home, ENV)
        try:
            eventually(lambda: "registry" in slot_kinds(home), what="the registry slot made")
            eventually(lambda: first in national_ids(registry), what="the worker drained")
        finally:
            stop_worker(worker)
            stop_box(box)
        runtime.forget(load_settings(home))  # the power cut
        box = start_box(home, ENV)
        try:
            eventually(lambda: not locked(box), what="the registry slot unlocked the box")
        finally:
            stop_box(box)
