"""Draining a busy office's outbox to the reference registry over loopback.

A box that was offline for days holds N pending actions (CREATE + DECLARE of N/2 births).
`edge worker` starts and drains them to a real `edge-registry` process; measured: actions
per second (from the worker's first connection to the last action accepted; the time with
the worker's start-up is printed too), bytes on the wire per action (both
directions, HTTP headers included, counted by a loopback proxy), the worker's peak RSS.

In the same run, the naive way: one HTTP request per action, uncompressed JSON, one action
per transaction, over a kept-alive connection through the same proxy, to the same registry
store (bench/support/naive_registry.py). Its rate is steady, so it is measured on NAIVE_N actions.
Prints the figures and the ratios, then one JSON object as the last line.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.journal.db import apply_key, sqlite3  # noqa: E402
from edge.keys.runtime import key_for_home  # noqa: E402
from edge.workflow.engine import ActionRequest  # noqa: E402
from edge.workflow.model import ActionType  # noqa: E402
from tests.chaos_proxy import ChaosProxy  # noqa: E402
from tests.helpers import (  # noqa: E402
    BIRTH,
    EDGE,
    actor,
    config,
    edge_cli,
    journal_conn,
    start_registry,
    stop_process,
)
from upstream_sync.protocol import WireAction  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_SYNC_SIZES", "10000,100000").split(",")]
NAIVE_N = int(os.environ.get("BENCH_SYNC_NAIVE_N", "2000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
NAIVE = [sys.executable, str(ROOT / "bench" / "support" / "naive_registry.py")]


def fill(home: Path, n: int) -> None:
    """n pending actions on the box, as an office makes them (each its own commit)."""
    from edge.journal.store import Journal

    with Journal(home / "journal.db", config(), key=key_for_home(home)) as journal:
        # The box's own clerk: the registry takes actions of the users of the box's office.
        found = journal.run(
            lambda c: c.execute(
                "SELECT id, office_id FROM users WHERE username = 'clerk'"
            ).fetchone()
        )
        clerk = actor("clinic-clerk", uid=found[0], office=found[1])
        futures = []
        for i in range(n // 2):
            rid = f"rec-{i:07d}"
            futures.append(
                journal.submit(ActionRequest(ActionType.CREATE, rid, event_type="birth"), clerk)
            )
            declaration = {**BIRTH, "child.first_name": f"Child{i}"}
            futures.append(
                journal.submit(
                    ActionRequest(ActionType.DECLARE, rid, declaration=declaration), clerk
                )
            )
            if len(futures) > 2000:
                for f in futures:
                    f.result()
                futures = []
        for f in futures:
            f.result()


class Office:
    """A registry (behind a counting proxy) and an enrolled box holding n pending actions,
    restored to that state before each repeat (both databases are copied once filled)."""

    def __init__(self, tmp: Path, name: str, n: int, command: list[str] | None = None) -> None:
        self.n, self.command = n, command
        self.reg_home = tmp / f"registry-{name}"
        self.reg_home.mkdir()
        self.registry = start_registry(self.reg_home, command=command)
        self.proxy = ChaosProxy(_port(self.registry.url), 0, connection_seconds=None)
        self.home = tmp / f"box-{name}"
        edge_cli(self.home, "init", "--demo", "--office-id", name)
        edge_cli(
            self.home, "enroll", f"http://127.0.0.1:{self.proxy.port}", self.registry.token(name)
        )
        fill(self.home, n)
        self.saved = {
            path: _copy(path, tmp / f"{name}-{path.name}.saved", self._key(path))
            for path in (self.home / "journal.db", self.reg_home / "registry.db")
        }

    def _key(self, path: Path) -> bytes | None:
        return database_key(path, self.home)

    def reset(self) -> None:
        """Back to n pending actions and a registry that has none of them."""
        stop_process(self.registry.process)
        for path, saved in self.saved.items():
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
            _copy(saved, path, self._key(path))
        self.registry = start_registry(
            self.reg_home, self.registry.admin_token, command=self.command
        )
        self.proxy.target_port = _port(self.registry.url)
        self.proxy.bytes.update(request=0, response=0)
        self.proxy.first_connection_at = None

    def close(self) -> None:
        self.proxy.close()
        stop_process(self.registry.process)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def database_key(path: Path, home: Path) -> bytes | None:
    """The box's data key for its journal (encrypted), none for the registry's database."""
    return key_for_home(home) if path.name == "journal.db" else None


def _copy(src: Path, dst: Path, key: bytes | None = None) -> Path:
    """A consistent copy of a live SQLite database (the backup API; `key`: a box's journal,
    copied encrypted with the same key)."""
    source, target = sqlite3.connect(str(src)), sqlite3.connect(str(dst))
    if key is not None:
        apply_key(source, key)
        apply_key(target, key)
    source.backup(target)
    source.close()
    target.close()
    return dst


def _box_value(home: Path, key: str) -> str:
    conn = journal_conn(home)
    try:
        return str(conn.execute("SELECT value FROM box WHERE key = ?", (key,)).fetchone()[0])
    finally:
        conn.close()


def accepted(home: Path) -> int:
    conn = journal_conn(home)
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM sync_state WHERE state = 'accepted'").fetchone()[0]
        )
    finally:
        conn.close()


def drain_once(office: Office) -> dict[str, float]:
    office.reset()
    home, n, proxy = office.home, office.n, office.proxy
    log = open(home / "worker.log", "ab")  # noqa: SIM115 - closed below
    start = time.perf_counter()
    worker = subprocess.Popen(
        [*EDGE, "--home", str(home), "worker"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )
    while accepted(home) < n:
        time.sleep(0.05)
        if worker.poll() is not None:
            raise RuntimeError("the worker stopped: see " + str(home / "worker.log"))
    end = time.perf_counter()
    seconds = end - (proxy.first_connection_at or start)
    worker.send_signal(signal.SIGINT)
    _, _, usage = os.wait4(worker.pid, 0)
    log.close()
    wire = proxy.bytes["request"] + proxy.bytes["response"]
    return {
        "seconds": seconds,
        "seconds_with_worker_start": end - start,
        "actions_per_s": n / seconds,
        "bytes_per_action": wire / n,
        "worker_peak_rss_mb": usage.ru_maxrss / 1024,
    }


def send_naive(home: Path, url: str, limit: int = -1, timeout: float = 5) -> float:
    """The naive way: the box's actions (the first `limit`; -1: all), one HTTP request each,
    as plain JSON, on a kept-alive connection to the naive registry at `url`; the seconds
    the requests took (the journal is read before)."""
    box_id = _box_value(home, "registry_box_id")
    conn = journal_conn(home, readonly=True)
    conn.row_factory = sqlite3.Row
    fields = WireAction.__struct_fields__
    rows = [
        WireAction(**{f: r[f] for f in fields})
        for r in conn.execute("SELECT * FROM actions ORDER BY seq LIMIT ?", (limit,))
    ]
    conn.close()
    headers = {"x-edge-box": box_id, "authorization": "Bearer " + "t" * 43}
    start = time.perf_counter()
    with httpx.Client(base_url=url, headers=headers, timeout=timeout) as http:
        for action in rows:
            r = http.post(
                "/naive/v1/action",
                content=msgspec.json.encode(action),
                headers={"content-type": "application/json"},
            )
            if r.json()["status"] != "accepted":
                raise RuntimeError(r.text)
    return time.perf_counter() - start


def naive_once(office: Office) -> dict[str, float]:
    office.reset()
    seconds = send_naive(office.home, f"http://127.0.0.1:{office.proxy.port}")
    wire = office.proxy.bytes["request"] + office.proxy.bytes["response"]
    return {
        "seconds": seconds,
        "actions_per_s": office.n / seconds,
        "bytes_per_action": wire / office.n,
    }


def medians(runs: list[dict[str, float]], n: int) -> dict[str, float]:
    out: dict[str, float] = {"actions": n, "repeats": len(runs)}
    for key in runs[0]:
        out[key] = round(statistics.median(r[key] for r in runs), 2)
    return out


def measure(
    tmp: Path,
    name: str,
    n: int,
    once: Callable[[Office], dict[str, float]],
    command: list[str] | None = None,
) -> dict[str, float]:
    office = Office(tmp, name, n, command)
    try:
        return medians([once(office) for _ in range(REPEATS)], n)
    finally:
        office.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = measure(tmp, "naive", NAIVE_N, naive_once, NAIVE)
        print(
            f"naive (one request per action, plain JSON), {NAIVE_N} actions: "
            f"{base['actions_per_s']} actions/s, {base['bytes_per_action']} bytes/action "
            f"(median of {REPEATS})"
        )
        figures: dict[str, object] = {"naive": base}
        for n in SIZES:
            r = measure(tmp, f"office-{n}", n, drain_once)
            r["speedup_vs_naive"] = round(r["actions_per_s"] / base["actions_per_s"], 1)
            r["bytes_ratio_vs_naive"] = round(r["bytes_per_action"] / base["bytes_per_action"], 3)
            print(
                f"edge worker, {n} actions: {r['actions_per_s']} actions/s "
                f"({r['speedup_vs_naive']}x naive), {r['bytes_per_action']} bytes/action "
                f"({r['bytes_ratio_vs_naive']}x naive), worker peak RSS "
                f"{r['worker_peak_rss_mb']} MB, {r['seconds']} s "
                f"({r['seconds_with_worker_start']} s with the worker's start; median of {REPEATS})"
            )
            figures[f"drain_{n}"] = r
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
