"""Power-cut safety: `edge serve` is killed with SIGKILL while clients submit actions.
Every action that got a 2xx must be in the journal afterwards, and the chain must verify."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import edge_cli, journal_conn, start_box, stop_box


def hammer(
    url: str, token: str, acknowledged: list[str], stop: threading.Event, worker: int
) -> None:
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    record: str | None = None
    n = 0
    while not stop.is_set():
        n += 1
        try:
            if record is None or n % 10 == 0:
                r = client.post(
                    "/api/v1/records",
                    json={"event_type": "birth", "declaration": {"child.first_name": f"W{worker}"}},
                )
                if r.status_code == 201:
                    body = r.json()
                    record = body["record"]["id"]
                    acknowledged.append(body["timeline"][0]["id"])
            else:
                r = client.post(
                    f"/api/v1/records/{record}/actions",
                    json={"type": "UPDATE", "declaration": {"child.last_name": f"N{n}"}},
                )
                if r.status_code == 201:
                    acknowledged.append(r.json()["action"]["id"])
        except httpx.TransportError:
            time.sleep(0.01)  # the box is down (killed); keep trying like a browser would
    client.close()


def crash_rounds(home: Path, rounds: int, seed: int) -> None:
    rng = random.Random(seed)
    edge_cli(home, "init", "--demo")
    token = edge_cli(home, "users", "token", "clerk", "--name", "crash").stdout.strip()
    acknowledged: list[str] = []
    for _ in range(rounds):
        box = start_box(home)
        stop = threading.Event()
        workers = [
            threading.Thread(target=hammer, args=(box.url, token, acknowledged, stop, k))
            for k in range(4)
        ]
        for w in workers:
            w.start()
        time.sleep(rng.uniform(0.3, 1.2))
        box.process.send_signal(signal.SIGKILL)  # no shutdown, no checkpoint: a power cut
        box.process.wait()
        stop.set()
        for w in workers:
            w.join()
        stop_box(box)
    assert len(acknowledged) > rounds * 10, "the clients barely got any work through"
    conn = journal_conn(home)
    stored = {r[0] for r in conn.execute("SELECT id FROM actions")}
    conn.close()
    lost = [a for a in acknowledged if a not in stored]
    assert not lost, f"{len(lost)} acknowledged actions are missing"
    result = edge_cli(home, "verify", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kill_9_loses_no_acknowledged_action(tmp_path: Path) -> None:
    crash_rounds(tmp_path, rounds=5, seed=1)


@pytest.mark.soak
def test_kill_9_soak(tmp_path: Path) -> None:
    crash_rounds(tmp_path, rounds=60, seed=int(time.time()))
