"""Draining a busy office's outbox to the reference registry over loopback.

A box that was offline for days holds N pending actions (CREATE + DECLARE of N/2 births).
`edge worker` starts and drains them to a real `edge-registry` process; measured: actions
per second (from the worker's first connection to the last action accepted; the time with
the worker's start-up is printed too), bytes on the wire per action (both
directions, HTTP headers included, counted by a loopback proxy), the worker's peak RSS.

In the same run, the naive way: one HTTP request per action, uncompressed JSON, one action
per transaction, over a kept-alive connection through the same proxy, to the same registry
store (bench/naive_registry.py). Its rate is steady, so it is measured on NAIVE_N actions.
Prints the figures and the ratios, then one JSON object as the last line.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.workflow.engine import ActionRequest  # noqa: E402
from edge.workflow.model import ActionType  # noqa: E402
from tests.chaos_proxy import ChaosProxy  # noqa: E402
from tests.helpers import (  # noqa: E402
    BIRTH,
    EDGE,
    actor,
    config,
    edge_cli,
    start_registry,
    stop_process,
)
from upstream_sync.protocol import WireAction  # noqa: E402

SIZES = [int(n) for n in os.environ.get("BENCH_SYNC_SIZES", "10000,100000").split(",")]
NAIVE_N = int(os.environ.get("BENCH_SYNC_NAIVE_N", "2000"))
NAIVE = [sys.executable, str(ROOT / "bench" / "naive_registry.py")]


def fill(home: Path, n: int) -> None:
    """n pending actions on the box, as an office makes them (each its own commit)."""
    from edge.journal.store import Journal

    clerk = actor("clinic-clerk")
    with Journal(home / "journal.db", config()) as journal:
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


def box(tmp: Path, name: str, office: str, registry_url: str, token: str) -> Path:
    home = tmp / name
    edge_cli(home, "init", "--demo", "--office-id", office)
    edge_cli(home, "enroll", registry_url, token)
    return home


def accepted(home: Path) -> int:
    conn = sqlite3.connect(home / "journal.db")
    try:
        return int(
            conn.execute("SELECT COUNT(*) FROM sync_state WHERE state = 'accepted'").fetchone()[0]
        )
    finally:
        conn.close()


def drain(tmp: Path, n: int) -> dict[str, float]:
    reg_home = tmp / f"registry-{n}"
    reg_home.mkdir()
    registry = start_registry(reg_home)
    proxy = ChaosProxy(int(registry.url.rsplit(":", 1)[1]), 0, connection_seconds=None)
    try:
        home = box(tmp, f"box-{n}", "office-1", f"http://127.0.0.1:{proxy.port}", registry.token())
        fill(home, n)
        proxy.bytes.update(request=0, response=0)
        proxy.first_connection_at = None
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
            "actions": n,
            "seconds": round(seconds, 2),
            "seconds_with_worker_start": round(end - start, 2),
            "actions_per_s": round(n / seconds, 1),
            "bytes_per_action": round(wire / n, 1),
            "worker_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        }
    finally:
        proxy.close()
        stop_process(registry.process)


def naive(tmp: Path, n: int) -> dict[str, float]:
    reg_home = tmp / "registry-naive"
    reg_home.mkdir()
    registry = start_registry(reg_home, command=NAIVE)
    proxy = ChaosProxy(int(registry.url.rsplit(":", 1)[1]), 0, connection_seconds=None)
    try:
        home = box(tmp, "box-naive", "office-2", registry.url, registry.token("office-2"))
        fill(home, n)
        conn = sqlite3.connect(home / "journal.db")
        conn.row_factory = sqlite3.Row
        box_id = conn.execute("SELECT value FROM box WHERE key = 'registry_box_id'").fetchone()[0]
        fields = WireAction.__struct_fields__
        rows = [
            WireAction(**{f: r[f] for f in fields})
            for r in conn.execute("SELECT * FROM actions ORDER BY seq")
        ]
        conn.close()
        headers = {"x-edge-box": box_id, "authorization": "Bearer " + "t" * 43}
        proxy.bytes.update(request=0, response=0)
        start = time.perf_counter()
        with httpx.Client(base_url=f"http://127.0.0.1:{proxy.port}", headers=headers) as http:
            for action in rows:
                r = http.post(
                    "/naive/v1/action",
                    content=msgspec.json.encode(action),
                    headers={"content-type": "application/json"},
                )
                if r.json()["status"] != "accepted":
                    raise RuntimeError(r.text)
        seconds = time.perf_counter() - start
        wire = proxy.bytes["request"] + proxy.bytes["response"]
        return {
            "actions": n,
            "seconds": round(seconds, 2),
            "actions_per_s": round(n / seconds, 1),
            "bytes_per_action": round(wire / n, 1),
        }
    finally:
        proxy.close()
        stop_process(registry.process)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        base = naive(tmp, NAIVE_N)
        print(
            f"naive (one request per action, plain JSON), {base['actions']} actions: "
            f"{base['actions_per_s']} actions/s, {base['bytes_per_action']} bytes/action"
        )
        figures: dict[str, object] = {"naive": base}
        for n in SIZES:
            r = drain(tmp, n)
            r["speedup_vs_naive"] = round(r["actions_per_s"] / base["actions_per_s"], 1)
            r["bytes_ratio_vs_naive"] = round(r["bytes_per_action"] / base["bytes_per_action"], 3)
            print(
                f"edge worker, {n} actions: {r['actions_per_s']} actions/s "
                f"({r['speedup_vs_naive']}x naive), {r['bytes_per_action']} bytes/action "
                f"({r['bytes_ratio_vs_naive']}x naive), worker peak RSS "
                f"{r['worker_peak_rss_mb']} MB, {r['seconds']} s"
            )
            figures[f"drain_{n}"] = r
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
