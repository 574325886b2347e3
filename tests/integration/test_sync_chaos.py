"""Exactly once, in order, whatever the link and the worker do: a proxy cuts connections
mid-request and mid-response, and the worker is killed with SIGKILL while it works."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from tests import helpers
from tests.chaos_proxy import ChaosProxy
from tests.helpers import BIRTH, edge_cli, journal_conn, running_box, start_registry, stop_process


def start_worker(home: Path) -> subprocess.Popen[bytes]:
    """A worker sending many small batches, backing off 5 s at most."""
    quick = {"EDGE_SYNC_BACKOFF_MAX_SECONDS": "5", "EDGE_SYNC_BATCH_BYTES": "2048"}
    return helpers.start_worker(home, quick)


def chaos(tmp_path: Path, requests: int, kills: int, seed: int, seconds: float = 60) -> None:
    rng = random.Random(seed)
    (tmp_path / "registry").mkdir()
    registry = start_registry(tmp_path / "registry")
    proxy = ChaosProxy(int(registry.url.rsplit(":", 1)[1]), cut_probability=0.12, seed=seed)
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    edge_cli(home, "enroll", registry.url, registry.token())
    conn = journal_conn(home)  # from now on the box talks through the proxy
    conn.execute(
        "UPDATE box SET value = ? WHERE key = 'registry_url'", (f"http://127.0.0.1:{proxy.port}",)
    )
    conn.commit()
    conn.close()
    try:
        with running_box(home) as box:
            clerk = box.client("clerk")
            worker = start_worker(home)
            i, started, killed = 0, time.monotonic(), 0
            # Work goes on while the link misbehaves, until the proxy has seen enough pushes.
            while (
                proxy.requests < requests or min(proxy.cuts.values()) < 3
            ) and time.monotonic() - started < seconds:
                i += 1
                rid = clerk.post("/api/v1/records", json={"event_type": "birth"}).json()
                rid = rid["record"]["id"]
                clerk.post(
                    f"/api/v1/records/{rid}/actions",
                    json={"type": "UPDATE", "declaration": {"child.first_name": f"N{i}"}},
                )
                clerk.post(
                    f"/api/v1/records/{rid}/actions", json={"type": "DECLARE", "declaration": BIRTH}
                )
                time.sleep(rng.uniform(0.05, 0.3))
                if kills and rng.random() < 0.15:
                    kills -= 1
                    killed += 1
                    worker.send_signal(signal.SIGKILL)  # mid-batch, or wherever it is
                    worker.wait()
                    worker = start_worker(home)
            proxy.cut_probability = 0.0  # the link heals
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                conn = journal_conn(home)
                open_ = conn.execute(
                    "SELECT COUNT(*) FROM actions a LEFT JOIN sync_state s "
                    "ON s.action_id = a.id WHERE s.state IS NULL OR s.state != 'accepted'"
                ).fetchone()[0]
                local = {
                    r[0]: (r[1], r[2], r[3])
                    for r in conn.execute("SELECT id, seq, record_id, created_at FROM actions")
                }
                conn.close()
                if open_ == 0:
                    break
                time.sleep(0.5)
            worker.send_signal(signal.SIGINT)
            worker.wait(timeout=20)
    finally:
        proxy.close()
    national = httpx.get(
        registry.url + "/admin/v1/actions",
        params={"limit": 10000},
        headers={"Authorization": f"Bearer {registry.admin_token}"},
    ).json()
    stop_process(registry.process)
    print(
        f"{i * 3} actions, {proxy.requests} requests on {proxy.connections} connections, "
        f"cuts {proxy.cuts}, "
        f"{killed} workers killed"
    )
    assert open_ == 0, f"{open_} actions not accepted after the link healed"
    assert proxy.cuts["request"] > 0 and proxy.cuts["response"] > 0, proxy.cuts
    ids = [a["id"] for a in national]
    assert proxy.requests >= requests, "the link was barely used"
    assert min(proxy.cuts.values()) >= 3, proxy.cuts
    assert len(ids) == len(set(ids)) == len(local) == i * 3  # each exactly once
    per_record: dict[str, list[int]] = defaultdict(list)
    for a in national:
        seq, record_id, created_at = local[a["id"]]
        assert a["created_at"] == created_at and a["box_seq"] == seq
        per_record[record_id].append(seq)
    assert all(seqs == sorted(seqs) for seqs in per_record.values())  # in order per record


def test_exactly_once_through_a_bad_link_and_killed_workers(tmp_path: Path) -> None:
    chaos(tmp_path, requests=80, kills=3, seed=7)


@pytest.mark.soak
def test_exactly_once_soak(tmp_path: Path) -> None:
    chaos(tmp_path, requests=1500, kills=40, seed=int(time.time()), seconds=300)
