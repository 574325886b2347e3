"""Years of an office's work: every page and API read at 10k, 100k and 1M actions.

Builds boxes of each size through the box's own journal (realistic declarations; most
records declared, many registered, some corrected and printed; 5 % of the actions still
waiting for the registry, at most 50,000), caches them between runs (by size and by the code
that builds them, outside the clone; a newer schema is applied to a copy), serves each with a
real `edge serve` (all sizes at once), and measures every page's p50/p95 over BENCH_REQUESTS
requests, the sizes taking turns request by request (so a machine busy for a minute slows
them alike), the ratio of the largest box to the smallest in the same run, `edge recount`'s
and `edge verify`'s time and peak memory, the web process's cold start and memory, the sync
worker's peak memory, and another user's save while three colleagues browse. Prints the
figures, then as its last line one JSON object with all of them.

BENCH_SIZES (default "10000,100000,1000000") picks the sizes; `make bench` runs all three.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.commands.init import DEMO_PASSWORD  # noqa: E402
from edge.ids import uuid7  # noqa: E402
from edge.journal.schema import migrate  # noqa: E402
from edge.journal.store import Journal  # noqa: E402
from edge.keys.runtime import key_for_home  # noqa: E402
from edge.workflow.config import load_config  # noqa: E402
from edge.workflow.engine import ActionRequest  # noqa: E402
from edge.workflow.model import ActionType, Actor  # noqa: E402
from tests.helpers import (  # noqa: E402
    edge_cli,
    journal_conn,
    start_box,
    start_worker,
    stop_box,
)

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "10000,100000,1000000").split(",")]
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "50"))
CACHE = Path(os.environ.get("BENCH_CACHE", Path.home() / ".cache" / "edge-bench"))
FIRST = ["Sara", "Omar", "Lina", "Yusuf", "Huda", "Rami", "Maya", "Karim", "سارة", "إبراهيم"]
LAST = ["Haddad", "Khalil", "Nasser", "Saleh", "Farah", "Aziz", "Mansour", "حداد", "خليل"]


def build(size: int) -> Path:
    """A box home with about `size` actions, built once and cached (by what builds it: a
    newer schema is applied to a copy before it is measured, as an upgrade would)."""
    home = CACHE / f"box-{size}-{BUILDER}"
    if (home / "built").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    edge_cli(home, "init", "--demo", "--office-id", "office-1")
    config = load_config()
    users = {r[0]: r[1] for r in _rows(home, "SELECT username, id FROM users")}
    clerk = _actor(config, users["clerk"], "clerk", "clinic-clerk")
    registrar = _actor(config, users["registrar"], "registrar", "local-registrar")
    rnd = random.Random(size)
    started = time.perf_counter()
    journal = Journal(home / "journal.db", config, batch_max=512, key=key_for_home(home))
    n, futures = 0, []
    try:
        while n < size:
            steps = _steps(rnd, uuid7())
            for req, who in steps:
                futures.append(journal.submit(req, clerk if who == "clerk" else registrar))
            if len(futures) > min(2000, size // 50):
                n += _settle(futures)
        n += _settle(futures)
    finally:
        journal.close()
    waiting = min(50_000, size // 20)
    _accept_all_but(home, waiting)
    (home / "built").write_text(f"{n} actions in {time.perf_counter() - started:.0f} s\n")
    return home


def _settle(futures: list[Any]) -> int:
    """Wait for the submitted steps; how many were committed (a step the workflow refuses,
    e.g. registering a record flagged as a possible duplicate, happens in a real office too,
    but is no action in the journal)."""
    committed = sum(1 for f in futures if f.exception() is None)
    futures.clear()
    return committed


def _actor(config: Any, uid: str, name: str, role: str) -> Actor:
    return Actor(uid, name, name.title(), role, "office-1", config.role_scopes[role])


def _steps(rnd: random.Random, rid: str) -> list[tuple[ActionRequest, str]]:
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    declaration = {
        "child.first_name": first,
        "child.last_name": last,
        "child.sex": rnd.choice(["female", "male"]),
        "child.dob": f"2025-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
        "child.place_of_birth": "health-facility",
        "mother.first_name": rnd.choice(FIRST),
        "mother.last_name": last,
        "mother.national_id": f"{rnd.randint(0, 999_999_999):09d}",
    }
    steps = [
        (ActionRequest(ActionType.CREATE, rid, event_type="birth"), "clerk"),
        (ActionRequest(ActionType.DECLARE, rid, declaration=declaration), "clerk"),
    ]
    roll = rnd.random()
    if roll < 0.6:
        steps += [
            (ActionRequest(ActionType.ASSIGN, rid), "registrar"),
            (ActionRequest(ActionType.REGISTER, rid), "registrar"),
        ]
        if roll < 0.15:
            steps += [
                (ActionRequest(ActionType.ASSIGN, rid), "registrar"),
                (
                    ActionRequest(
                        ActionType.REQUEST_CORRECTION,
                        rid,
                        declaration={"child.first_name": first + "a"},
                        form={"reason": "misspelt", "requester": "the mother"},
                    ),
                    "registrar",
                ),
                (ActionRequest(ActionType.ASSIGN, rid), "registrar"),
                (ActionRequest(ActionType.APPROVE_CORRECTION, rid), "registrar"),
                (ActionRequest(ActionType.ASSIGN, rid), "registrar"),
                (ActionRequest(ActionType.PRINT, rid, form={"collector": "mother"}), "registrar"),
            ]
    return steps


def _accept_all_but(home: Path, waiting: int) -> None:
    """Receipts as the registry would have answered: everything accepted but the newest."""
    conn = journal_conn(home)
    last = conn.execute("SELECT MAX(seq) FROM actions").fetchone()[0]
    conn.execute(
        "INSERT INTO sync_state (action_id, seq, record_id, state, attempts, registry_time, "
        "updated_at) SELECT id, seq, record_id, 'accepted', 1, created_at, created_at "
        "FROM actions WHERE seq <= ?",
        (last - waiting,),
    )
    conn.execute(
        "INSERT OR REPLACE INTO box (key, value) VALUES ('registry_url', 'http://127.0.0.1:9'), "
        "('registry_box_id', 'b'), ('registry_key', 'k'), ('registry_reachable', '0')"
    )
    conn.commit()
    conn.close()


# The cache's name changes with what builds a box, not with how it is measured.
BUILDER = hashlib.sha256(
    "".join(
        [inspect.getsource(f) for f in (build, _settle, _steps, _accept_all_but)] + FIRST + LAST
    ).encode()
).hexdigest()[:12]


def _rows(home: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = journal_conn(home)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def summary(times: list[float]) -> dict[str, float]:
    times = sorted(times)
    return {
        "p50": round(statistics.median(times), 1),
        "p95": round(times[int(len(times) * 0.95) - 1], 1),
    }


def timed(fn: Callable[[], Any], n: int = REQUESTS) -> dict[str, float]:
    fn()  # warm
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return summary(times)


def prepared(size: int, home: Path) -> Path:
    """A copy of the cached box, unlocked and at this software's schema (not timed)."""
    shutil.copytree(build(size), home)
    if key_for_home(home) is None:  # the machine restarted since the box was built
        _unlock(home)
    conn = journal_conn(home)
    migrate(conn)
    conn.close()
    return home


def _reads(box: Any, home: Path) -> dict[str, Callable[[], Any]]:
    """Each page and API read, as one request to this box."""
    clerk = box.client("clerk")
    registrar = box.client("registrar")
    anonymous = httpx.Client(base_url=box.url)
    record = _rows(home, "SELECT id FROM records ORDER BY rowid DESC LIMIT 1")[0][0]
    check = lambda r: r.raise_for_status()  # noqa: E731
    deep = None
    url = "/queues/ready-to-print"
    for _ in range(20):  # walk twenty pages down the keyset, then time the page found there
        page = registrar.get(url).text
        marker = 'rel="next"'
        if marker not in page:
            break
        href = page[: page.index(marker)].rsplit('href="', 1)[1].split('"')[0]
        url = "/queues/ready-to-print" + href.replace("&amp;", "&")
        deep = url
    return {
        "help": lambda: check(clerk.get("/help")),
        "ui_status": lambda: check(clerk.get("/ui/status")),
        "record": lambda: check(clerk.get(f"/records/{record}")),
        "queue_first": lambda: check(registrar.get("/queues/ready-to-print")),
        "queue_deep": lambda: check(registrar.get(deep or "/queues/ready-to-print")),
        "search": lambda: check(clerk.get("/search", params={"q": "Haddad"})),
        "search_arabic": lambda: check(clerk.get("/search", params={"q": "ساره"})),
        "outbox": lambda: check(clerk.get("/outbox")),
        "api_workqueues": lambda: check(registrar.get("/api/v1/workqueues")),
        "api_outbox": lambda: check(clerk.get("/api/v1/outbox")),
        "metrics": lambda: check(anonymous.get("/metrics")),
    }


def interleaved(boxes: dict[int, Any], homes: dict[int, Path]) -> dict[int, dict[str, Any]]:
    """Every read's p50/p95 on every box, the sizes taking turns request by request: a
    machine that slows down for a minute slows every size alike, so the ratios hold."""
    reads = {size: _reads(box, homes[size]) for size, box in boxes.items()}
    figures: dict[int, dict[str, Any]] = {size: {} for size in boxes}
    for name in reads[next(iter(boxes))]:
        times: dict[int, list[float]] = {size: [] for size in boxes}
        for size in boxes:
            reads[size][name]()  # warm
        for _ in range(REQUESTS):
            for size in boxes:
                start = time.perf_counter()
                reads[size][name]()
                times[size].append((time.perf_counter() - start) * 1000)
        for size in boxes:
            figures[size][name] = summary(times[size])
    return figures


def measure(sizes: list[int]) -> dict[int, dict[str, Any]]:
    """All boxes served at once: the pages measured in turns, then each box's save while
    colleagues browse, memory, cold start and `edge verify`, one box after the other."""
    with tempfile.TemporaryDirectory() as tmp:
        homes = {size: prepared(size, Path(tmp) / f"box-{size}") for size in sizes}
        boxes: dict[int, Any] = {}
        cold: dict[int, float] = {}
        try:
            for size, home in homes.items():
                start = time.perf_counter()
                boxes[size] = start_box(home)
                cold[size] = time.perf_counter() - start
            results = interleaved(boxes, homes)
            for size, box in boxes.items():
                r = results[size]
                r["save_while_browsing"] = _save_while_browsing(box)
                # Colleagues opening two pages a second each: quicker than people click.
                r["save_while_browsing_paced"] = _save_while_browsing(box, pause=0.5)
                r["cold_start_s"] = round(cold[size], 2)
                r["web_rss_mb"] = _rss_mb(box.process.pid)
                r["worker_peak_mb"] = _worker_peak_mb(homes[size])
                r["recount"] = _command(homes[size], "recount")  # beside the running box
                r["verify"] = _command(homes[size], "verify")
                r["actions"] = _rows(homes[size], "SELECT COUNT(*) FROM actions")[0][0]
            return results
        finally:
            for box in boxes.values():
                stop_box(box, signal.SIGTERM)


# What each colleague browses: the heavy pages their role sees, one after the other.
BROWSING = {
    "registrar": ["/outbox", "/search?q=Haddad", "/queues/ready-to-print", "/help"],
    "agent": ["/outbox", "/search?q=Haddad", "/queues/ready-to-print", "/help"],
    "clerk": ["/outbox", "/search?q=Haddad", "/queues/recent", "/help"],
}


def _colleague(
    url: str, cookies: dict[str, str], paths: list[str], stop: Any, pause: float
) -> None:
    with httpx.Client(base_url=url, cookies=cookies) as c:
        while not stop.is_set():
            for path in paths:
                c.get(path).raise_for_status()
                time.sleep(pause)


def _save_while_browsing(box: Any, pause: float = 0.0) -> dict[str, float]:
    """Another user's saves (p95 of 200) while three colleagues load heavy pages, back to
    back (`pause` 0) or one every `pause` seconds, each from their own process (their own PC:
    the measuring client shares nothing with them but the machine's two cores)."""
    stop = multiprocessing.Event()
    colleagues = [
        multiprocessing.Process(
            target=_colleague,
            args=(box.url, dict(box.client(user).cookies), paths, stop, pause),
        )
        for user, paths in BROWSING.items()
    ]
    for p in colleagues:
        p.start()
    saver = box.client("clerk")  # a second PC
    rid = saver.post("/api/v1/records", json={"event_type": "birth"}).json()["record"]["id"]
    names = iter(range(10**6))
    try:
        time.sleep(1)  # everyone browsing
        result = timed(
            lambda: saver.post(
                f"/api/v1/records/{rid}/actions",
                json={"type": "UPDATE", "declaration": {"child.first_name": f"N{next(names)}"}},
            ).raise_for_status(),
            200,
        )
    finally:
        stop.set()
        for p in colleagues:
            p.join()
    if any(p.exitcode for p in colleagues):
        raise RuntimeError("a colleague's page failed while browsing")
    return result


def _rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
    return round(kib / 1024, 1)


def _worker_peak_mb(home: Path) -> float:
    """`edge worker`'s peak memory over its first 10 s beside the web process: it starts,
    reads the outbox and tries to send it (the registry is not there: it backs off)."""
    worker = start_worker(home)
    time.sleep(10)
    if worker.poll() is not None:
        raise RuntimeError(f"edge worker stopped by itself: see {home / 'worker.log'}")
    worker.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 30
    while True:
        pid, _, usage = os.wait4(worker.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            worker.kill()
            _, _, usage = os.wait4(worker.pid, 0)
            break
        time.sleep(0.1)
    worker.returncode = 0
    return round(usage.ru_maxrss / 1024, 1)


def _unlock(home: Path) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".password") as f:
        f.write(DEMO_PASSWORD)
        f.flush()
        edge_cli(home, "--unlock-user", "admin", "--unlock-password-file", f.name, "unlock")


def _command(home: Path, name: str) -> dict[str, float]:
    """`edge <name>`'s time and its own peak memory (its rusage alone, not the web's)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "--home", str(home), name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"edge {name} failed on the {home} box")
    return {"seconds": round(seconds, 1), "peak_mb": round(usage.ru_maxrss / 1024, 1)}


def main() -> None:
    for size in SIZES:
        build(size)
    results = measure(SIZES)
    for size, r in results.items():
        print(f"== {size:,} actions", flush=True)
        for name, v in r.items():
            print(f"  {name:22} {v}")
    small, large = results[min(SIZES)], results[max(SIZES)]
    ratios = {
        name: round(large[name]["p50"] / small[name]["p50"], 2)
        for name in small
        if isinstance(small[name], dict) and "p50" in small[name]
    }
    print(f"== ratio {max(SIZES):,} / {min(SIZES):,} (p50): {ratios}")
    worst_p95 = max(
        (v["p95"], k)
        for k, v in large.items()
        if isinstance(v, dict) and "p95" in v and not k.startswith("save_while_browsing")
    )
    print(f"== slowest page at {max(SIZES):,}: {worst_p95[1]} p95 {worst_p95[0]} ms")
    print(
        json.dumps(
            {
                "sizes": SIZES,
                "results": {str(k): v for k, v in results.items()},
                "ratio_largest_to_smallest_p50": ratios,
                "slowest_p95_ms": worst_p95[0],
            }
        )
    )


if __name__ == "__main__":
    main()
