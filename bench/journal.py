"""Journal write throughput.

1. Durable appends per second, one at a time, through the box's writer (engine, hash chain,
   materialized state, group-commit writer thread) vs a raw sqlite3 loop inserting the same
   journal rows with the same pragmas (WAL, synchronous=FULL), one commit per row.
2. 16 concurrent HTTP clients submitting actions to a real `edge serve`: actions/s and
   p50/p99 latency, compared with the raw single-commit rate of the same run, and the same load
   on a litestar app that does nothing (the most one Python process answers here).

The journal is encrypted (SQLCipher, the box's default since issue 14): each round measures
the raw loop and the writer both plain and encrypted, interleaved, and reports the encrypted
rate's ratio to plain SQLite (median of the rounds' ratios; the HTTP box is encrypted).

Both are measured twice: on this machine's disk, and with every fsync made slower by an
LD_PRELOAD shim (bench/fsync_delay.c) to resemble a Raspberry Pi's SD card, where the cost of
a commit, and so the value of group commit, is very different. Prints the figures, then as its
last line one JSON object with every figure.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.ids import uuid7  # noqa: E402
from edge.journal.db import connect  # noqa: E402
from edge.journal.schema import migrate  # noqa: E402
from edge.journal.store import Journal  # noqa: E402
from edge.workflow.config import load_config  # noqa: E402
from edge.workflow.engine import ActionRequest  # noqa: E402
from edge.workflow.model import ActionType, Actor  # noqa: E402

N_SEQ = int(os.environ.get("BENCH_N", "2000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
HTTP_CLIENTS = 16
HTTP_SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "8"))
# A Raspberry Pi's SD card takes milliseconds per fsync; this VM's disk takes ~0.2 ms.
SD_FSYNC_US = int(os.environ.get("BENCH_SD_FSYNC_US", "3000"))


KEY = os.urandom(32)  # the data key of the encrypted runs


def raw_rate(n: int, key: bytes | None = None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = connect(Path(tmp) / "raw.db", key=key)
        migrate(conn)
        row = (
            "rec",
            "birth",
            "UPDATE",
            None,
            "2026-11-22T08:00:00.000Z",
            None,
            "synced",
            "b" * 36,
            "u" * 36,
            "office-1",
            "[]",
            "[]",
            "0" * 64,
            "1" * 64,
        )
        start = time.perf_counter()
        for i in range(1, n + 1):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO actions (seq, id, record_id, event_type, type, custom_type, "
                "created_at, client_time, clock, boot_id, created_by, created_at_location, "
                "payload, flags_added, flags_removed, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    i,
                    uuid7(),
                    *row[:10],
                    json.dumps({"declaration": {"child.first_name": f"n{i}"}}),
                    *row[10:],
                ),
            )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        conn.close()
    return n / elapsed


def writer_rate(n: int, actor: Actor, key: bytes | None = None) -> float:
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.db", config, key=key)
        rid = uuid7()
        journal.append(ActionRequest(ActionType.CREATE, rid, event_type="birth"), actor)
        start = time.perf_counter()
        for i in range(n):
            journal.append(
                ActionRequest(ActionType.UPDATE, rid, declaration={"child.first_name": f"n{i}"}),
                actor,
            )
        elapsed = time.perf_counter() - start
        journal.close()
    return n / elapsed


async def _client(
    port: int, token: str, body: bytes, stop_at: float, latencies: list[float]
) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        b"POST /api/v1/records HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer "
        + token.encode()
        + b"\r\n"
        b"content-type: application/json\r\ncontent-length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    done = 0
    while time.perf_counter() < stop_at:
        t0 = time.perf_counter()
        writer.write(request)
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        if b" 201 " not in status:
            raise RuntimeError(f"unexpected answer: {status!r}")
        latencies.append(time.perf_counter() - t0)
        done += 1
    writer.close()
    return done


async def _load(port: int, token: str, seconds: float) -> tuple[float, list[float]]:
    body = json.dumps(
        {"event_type": "birth", "declaration": {"child.first_name": "Bench"}}
    ).encode()
    latencies: list[float] = []
    start = time.perf_counter()
    counts = await asyncio.gather(
        *[_client(port, token, body, start + seconds, latencies) for _ in range(HTTP_CLIENTS)]
    )
    return sum(counts) / (time.perf_counter() - start), latencies


def http_rate(seconds: float) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = dict(os.environ)
        edge = [sys.executable, "-m", "edge", "--home", str(home)]
        subprocess.run([*edge, "init", "--demo"], check=True, capture_output=True, env=env)
        token = subprocess.run(
            [*edge, "users", "token", "clerk", "--name", "bench"],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.strip()
        port_file = home / "port"
        log = home / "serve.log"
        with open(log, "wb") as out:
            server = subprocess.Popen(
                [
                    *edge,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--port-file",
                    str(port_file),
                ],
                env={**env, "EDGE_MDNS_INTERFACES": "off"},  # loopback only, no announcing
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 30
            while not port_file.exists():
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("edge serve did not start")
                time.sleep(0.05)
            port = int(port_file.read_text())
            asyncio.run(_load(port, token, 1.0))  # warm up
            rate, latencies = asyncio.run(_load(port, token, seconds))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)
        per_commit = _per_commit(log.read_text())
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return rate, p50, p99, per_commit


def empty_app_rate(seconds: float) -> float:
    """The same load on a litestar app that does nothing (bench/support/empty_app.py): the most
    one Python process answers here, the ceiling of the box's HTTP figure."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "support" / "empty_app.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or app.poll() is not None:
                    raise RuntimeError("the empty app did not start") from None
                time.sleep(0.05)
        asyncio.run(_load(port, "none", 1.0))  # warm up
        rate, _ = asyncio.run(_load(port, "none", seconds))
    finally:
        app.terminate()
        app.wait(timeout=20)
    return rate


def _per_commit(log: str) -> float:
    """Actions per commit, from the writer's summary line logged at shutdown."""
    for line in log.splitlines():
        if "journal writer:" in line:
            return float(line.rsplit("(", 1)[1].split()[0])
    return float("nan")


def scenario(n: int, repeats: int, http_seconds: float) -> dict[str, object]:
    config = load_config()
    actor = Actor(
        "bench", "bench", "Bench", "clinic-clerk", "office-1", config.role_scopes["clinic-clerk"]
    )
    raws, raws_enc, writers_plain, writers = [], [], [], []
    for _ in range(repeats):  # interleaved: this machine's disk drifts between minutes
        raws.append(raw_rate(n))
        raws_enc.append(raw_rate(n, KEY))
        writers_plain.append(writer_rate(n, actor))
        writers.append(writer_rate(n, actor, KEY))
    raw, writer = statistics.median(raws), statistics.median(writers)
    raw_ratio = statistics.median(e / p for e, p in zip(raws_enc, raws, strict=True))
    writer_ratio = statistics.median(e / p for e, p in zip(writers, writers_plain, strict=True))
    rate, p50, p99, per_commit = http_rate(http_seconds)
    ceiling = empty_app_rate(http_seconds)
    return {
        "raw_appends_per_s": round(raw),
        "raw_encrypted_appends_per_s": round(statistics.median(raws_enc)),
        "raw_encrypted_vs_plain": round(raw_ratio, 3),
        "writer_appends_per_s": round(writer),
        "writer_plain_appends_per_s": round(statistics.median(writers_plain)),
        "writer_encrypted_vs_plain": round(writer_ratio, 3),
        "writer_vs_raw": round(writer / raw, 3),
        "http_clients": HTTP_CLIENTS,
        "http_actions_per_s": round(rate),
        "http_vs_raw": round(rate / raw, 3),
        "http_p50_ms": round(p50, 2),
        "http_p99_ms": round(p99, 2),
        "http_actions_per_commit": round(per_commit, 2),
        "http_empty_app_per_s": round(ceiling),
        "http_vs_empty_app": round(rate / ceiling, 3),
        "raw_runs": [round(r) for r in raws],
        "writer_runs": [round(w) for w in writers],
    }


def report(title: str, r: dict[str, object]) -> None:
    print(f"== {title}")
    print(
        f"raw sqlite3, one commit per row  : {r['raw_appends_per_s']:>7} appends/s "
        f"(median of {len(r['raw_runs'])})"
    )  # type: ignore[arg-type]
    print(
        f"raw, encrypted (SQLCipher)       : {r['raw_encrypted_appends_per_s']:>7} appends/s "
        f"= {r['raw_encrypted_vs_plain']}x plain (goal >= 0.9x on SD-like storage)"
    )
    print(
        f"box writer, one append at a time : {r['writer_appends_per_s']:>7} appends/s encrypted "
        f"= {r['writer_vs_raw']}x raw plain (goal >= 0.8x); "
        f"{r['writer_encrypted_vs_plain']}x the same writer plain"
    )
    print(
        f"HTTP, {HTTP_CLIENTS} concurrent clients       : {r['http_actions_per_s']:>7} actions/s "
        f"= {r['http_vs_raw']}x raw (goal > 1x); p50 {r['http_p50_ms']} ms, "
        f"p99 {r['http_p99_ms']} ms; {r['http_actions_per_commit']} actions per commit"
    )
    print(
        f"HTTP, a litestar app doing nothing: {r['http_empty_app_per_s']:>7} requests/s "
        f"(the box reaches {r['http_vs_empty_app']}x of it)"
    )


def slow_storage(delay_us: int) -> dict[str, object]:
    """Run the same scenario in a child process whose fsyncs take delay_us longer."""
    with tempfile.TemporaryDirectory() as tmp:
        shim = Path(tmp) / "fsync_delay.so"
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                "-O2",
                "-o",
                str(shim),
                str(ROOT / "bench" / "fsync_delay.c"),
                "-ldl",
            ],
            check=True,
        )
        env = {
            **os.environ,
            "LD_PRELOAD": str(shim),
            "FSYNC_DELAY_US": str(delay_us),
            "BENCH_CHILD": "slow",
        }
        out = subprocess.run(
            [sys.executable, __file__], env=env, check=True, capture_output=True, text=True
        ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    if os.environ.get("BENCH_CHILD") == "slow":
        print(json.dumps(scenario(max(N_SEQ // 10, 100), REPEATS, HTTP_SECONDS)))
        return
    native = scenario(N_SEQ, REPEATS, HTTP_SECONDS)
    report("this machine's disk (fsync is very fast here)", native)
    slow = slow_storage(SD_FSYNC_US)
    report(f"SD-card-like storage: every fsync {SD_FSYNC_US / 1000:g} ms slower (simulated)", slow)
    print(
        json.dumps(
            {
                "native_disk": native,
                "sd_card_like": slow,
                "sd_card_fsync_delay_ms": SD_FSYNC_US / 1000,
            }
        )
    )


if __name__ == "__main__":
    main()
