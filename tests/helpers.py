"""Shared test helpers: actors, complete declarations, real box processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import httpx

from edge.commands.init import DEMO_PASSWORD, DEMO_USERS
from edge.journal.db import apply_key, sqlite3
from edge.keys.runtime import key_for_home
from edge.workflow.config import Config, load_config
from edge.workflow.model import Actor
from edge.workflow.scopes import parse_scope

T = TypeVar("T")

OFFICE = "office-1"
TODAY = date(2026, 11, 22)
ROOT = Path(__file__).resolve().parent.parent
EDGE = [sys.executable, "-m", "edge"]

BIRTH = {
    "child.first_name": "Sara",
    "child.last_name": "Haddad",
    "child.sex": "female",
    "child.dob": "2026-11-01",
    "child.place_of_birth": "health-facility",
    "mother.first_name": "Mona",
    "mother.last_name": "Haddad",
}
DEATH = {
    "deceased.first_name": "Ali",
    "deceased.last_name": "Saleh",
    "deceased.sex": "male",
    "death.date": "2026-11-10",
    "death.place": "health-facility",
    "informant.relationship": "child",
}


def config() -> Config:
    return load_config()


def actor(
    role: str, cfg: Config | None = None, *, uid: str | None = None, office: str = OFFICE
) -> Actor:
    cfg = cfg or config()
    return Actor(uid or f"user-{role}", role, role.title(), role, office, cfg.role_scopes[role])


def actor_with(scopes: list[str], uid: str = "user-custom", office: str = OFFICE) -> Actor:
    return Actor(uid, uid, uid, "custom", office, tuple(parse_scope(s) for s in scopes))


@dataclass
class Box:
    """A real `edge serve` process with its own home directory."""

    home: Path
    url: str
    process: subprocess.Popen[bytes]

    def client(self, user: str | None = None, password: str = DEMO_PASSWORD) -> httpx.Client:
        """A client logged in as `user` (cookie and CSRF header set), or anonymous."""
        client = httpx.Client(base_url=self.url, timeout=30)
        if user:
            r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
            if r.status_code != 200:
                raise AssertionError(f"login as {user} failed: {r.status_code} {r.text}")
            client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """What a query of the box's journal.db answers (read beside the running box)."""
        conn = journal_conn(self.home)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def token(self, user: str) -> str:
        """An API token for `user`, issued with the CLI as an IT officer would."""
        return edge_cli(self.home, "users", "token", user, "--name", "tests").stdout.strip()


def journal_conn(
    where: Path, readonly: bool = False, home: Path | None = None, **kw: Any
) -> sqlite3.Connection:
    """A connection to a box's journal.db (`where`: the box's home or the file), keyed with
    the data key of the box at `home` (default: the file's folder) while it is unlocked (a
    plain file, e.g. a unit test's: no key)."""
    path = where if where.suffix == ".db" else where / "journal.db"
    key = key_for_home(home or path.parent)
    target = f"file:{path}?mode=ro" if readonly else str(path)
    conn: sqlite3.Connection = sqlite3.connect(target, uri=readonly, **kw)
    if key is not None:
        apply_key(conn, key)
    return conn


def edge_cli(
    home: Path, *args: str, check: bool = True, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGE, "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=check,
        cwd=ROOT,
        **kw,
    )


def start_box(home: Path, env: dict[str, str] | None = None, wrap: list[str] = ()) -> Box:  # type: ignore[assignment]
    """Start `edge serve` on a free loopback port and wait until /healthz answers. `wrap`
    prefixes the command (e.g. `prlimit --nofile=1024` for systemd's default file limit)."""
    port_file = home / "port"
    port_file.unlink(missing_ok=True)
    log = open(home / "serve.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            *wrap,
            *EDGE,
            "--home",
            str(home),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(port_file),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        # Tests stay off the machine's real network: mDNS only in test_mdns's namespaces.
        env={**os.environ, "EDGE_MDNS_INTERFACES": "off", **(env or {})},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"edge serve exited: {(home / 'serve.log').read_text()[-2000:]}")
        if port_file.exists():
            url = f"http://127.0.0.1:{port_file.read_text().strip()}"
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return Box(home, url, proc)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("edge serve did not become ready in 30 s")


def stop_box(box: Box, sig: int = signal.SIGTERM) -> None:
    if box.process.poll() is None:
        box.process.send_signal(sig)
        try:
            box.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            box.process.kill()
            box.process.wait()


@contextmanager
def running_box(
    home: Path,
    env: dict[str, str] | None = None,
    wrap: list[str] = (),  # type: ignore[assignment]
) -> Iterator[Box]:
    box = start_box(home, env, wrap)
    try:
        yield box
    finally:
        stop_box(box)


_seq = iter(range(1, 10**9))


def act(
    state: Any,
    type_: Any,
    who: Actor,
    cfg: Config,
    *,
    record_id: str = "rec-1",
    duplicates: tuple[str, ...] = (),
    today: date = TODAY,
    **kw: Any,
) -> Any:
    """Decide and fold one action in memory (no database), as the journal would."""
    from edge.workflow.engine import ActionRequest, decide
    from edge.workflow.fold import Entry, fold

    req = ActionRequest(type_, record_id, **kw)
    d = decide(state, req, who, cfg, today, duplicates)
    seq = next(_seq)
    entry = Entry(
        seq=seq,
        id=f"a{seq}",
        record_id=record_id,
        event_type=d.event_type,
        type=type_,
        custom_type=req.custom_type,
        created_at=f"2026-11-22T00:00:{seq % 60:02d}.000Z",
        client_time=None,
        clock="synced",
        boot_id="boot",
        created_by=who.id,
        created_at_location=who.office_id,
        payload=d.payload,
        flags_added=d.flags_added,
        flags_removed=d.flags_removed,
    )
    return fold(state, entry)


def start_worker(
    home: Path, env: dict[str, str] | None = None, command: list[str] = EDGE
) -> subprocess.Popen[bytes]:
    """Start `edge worker` (or `command`, taking the same arguments) for a box's home."""
    log = open(home / "worker.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [*command, "--home", str(home), "worker"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGINT)  # huey's graceful stop: the batch in flight finishes
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@dataclass
class Registry:
    """A real `edge-registry serve` process with its own database and key."""

    home: Path
    url: str
    admin_token: str
    process: subprocess.Popen[bytes]

    def token(self, office: str = OFFICE) -> str:
        return registry_cli(self.home, "token", "--office-id", office).stdout.strip()

    def add_user(
        self, username: str, role: str, password: str = DEMO_PASSWORD, office: str = OFFICE
    ) -> httpx.Response:
        """Create (or replace) a user in the national register, as its operator would (a demo
        user's name as on demo boxes); the boxes of the office learn it at their next pull."""
        names = {u: name for u, name, _ in DEMO_USERS}
        return httpx.post(
            self.url + "/admin/v1/users",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            json={
                "username": username,
                "display_name": names.get(username, username.title()),
                "role": role,
                "office_id": office,
                "password": password,
            },
        )

    def journal(self) -> list[dict[str, Any]]:
        r = httpx.get(
            self.url + "/admin/v1/actions", headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        r.raise_for_status()
        rows: list[dict[str, Any]] = r.json()
        return rows


REGISTRY = [sys.executable, "-m", "upstream_sync.registry.cli"]


def registry_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*REGISTRY, "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )


def start_registry(
    home: Path,
    admin_token: str | None = None,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    port: int = 0,
) -> Registry:
    """Start `edge-registry serve` (or `command`, a stand-in taking the same arguments)."""
    if admin_token is None:
        admin_token = registry_cli(home, "init").stdout.strip()
    port_file = home / "port"
    port_file.unlink(missing_ok=True)
    log = open(home / "registry.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            *(command or REGISTRY),
            *("--home", str(home), "serve", "--port", str(port), "--port-file", str(port_file)),
        ],
        stdout=log,
        env={**os.environ, **(env or {})},
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError((home / "registry.log").read_text()[-2000:])
        if port_file.exists():
            url = f"http://127.0.0.1:{port_file.read_text().strip()}"
            try:
                if httpx.get(url + "/v1/hello", timeout=2).status_code == 200:
                    return Registry(home, url, admin_token, proc)
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("edge-registry did not become ready in 30 s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run in a thread of its own: the browser tests keep a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result(timeout=60)


def forget_box_keys(folder: Path) -> None:
    """Remove the unlocked data keys (kept in RAM, under /dev/shm, until a reboot) of the
    boxes whose homes are under `folder`, found by the box ids in their edge.toml."""
    for settings in folder.rglob("edge.toml"):
        try:
            box_id = tomllib.loads(settings.read_text(encoding="utf-8")).get("box_id")
        except (OSError, ValueError):
            continue
        for keys in Path("/dev/shm").glob(f"edge-*-{box_id}") if box_id else ():
            shutil.rmtree(keys, ignore_errors=True)
