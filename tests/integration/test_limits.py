"""What a flood from the office network costs the box, with a real `edge serve` under
systemd's default limit of 1,024 open files: half-open connections, endless headers and a
login storm each leave it answering everyone else (docs/operations.md lists the limits)."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from pathlib import Path

import httpx

from tests.helpers import Box, edge_cli, running_box

SYSTEMD_DEFAULT = ["prlimit", "--nofile=1024:1024"]


def rss_mib(box: Box) -> float:
    status = Path(f"/proc/{box.process.pid}/status").read_text()
    kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    return kib / 1024


def answers(box: Box, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(box.url + "/healthz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def test_a_thousand_half_open_connections_do_not_lock_the_office_out(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    env = {"EDGE_HTTP_HEADER_TIMEOUT_SECONDS": "2"}
    with running_box(home, env, wrap=SYSTEMD_DEFAULT) as box:
        host, port = box.url.removeprefix("http://").split(":")
        held = []
        for _ in range(1100):  # more than the process may have files open
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect((host, int(port)))
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: box\r\n")  # never finished
            except OSError:
                s.close()
                continue
            held.append(s)
        try:
            # Within the header timeout the box drops them and answers everyone else again.
            assert answers(box, within=15), "the box stayed unreachable"
            closed = 0
            for s in held[:50]:
                try:
                    closed += s.recv(100).startswith(b"HTTP/1.1 408") or 1
                except OSError:
                    closed += 1
            assert closed == 50
        finally:
            for s in held:
                s.close()
        assert box.process.poll() is None


def test_endless_headers_are_cut_short_and_cost_no_memory(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        before = rss_mib(box)
        host, port = box.url.removeprefix("http://").split(":")
        chunk = b"X-Junk: " + b"a" * 65_000 + b"\r\n"
        refused = 0
        for _ in range(10):
            s = socket.create_connection((host, int(port)), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: box\r\n")
            try:
                for _ in range(800):  # up to 50 MB each, if the box kept reading
                    s.sendall(chunk)
            except OSError:
                pass  # the box closed the connection: what we want
            try:
                refused += s.recv(200).startswith(b"HTTP/1.1 431")
            except OSError:
                refused += 1
            s.close()
        assert refused == 10
        assert rss_mib(box) - before < 40, f"serve grew from {before:.0f} to {rss_mib(box):.0f} MiB"
        assert answers(box, within=2)


def test_a_login_storm_does_not_slow_everyone_elses_pages(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    with running_box(home) as box:
        clerk = box.client("clerk")

        def page() -> float:
            start = time.perf_counter()
            assert clerk.get("/outbox").status_code == 200
            return time.perf_counter() - start

        calm = statistics.median(page() for _ in range(10))
        answers_seen: list[int] = []

        def guess(n: int) -> None:
            with httpx.Client(base_url=box.url, timeout=60) as c:
                r = c.post(
                    "/api/v1/auth/login", json={"username": f"nobody{n}", "password": "x" * 12}
                )
                answers_seen.append(r.status_code)

        storm = [threading.Thread(target=guess, args=(n,)) for n in range(200)]
        for t in storm:
            t.start()
        during = [page() for _ in range(10)]
        for t in storm:
            t.join()
        assert max(during) < max(2.0, 20 * calm), (
            f"pages took {max(during):.1f} s (calm {calm:.3f})"
        )
        assert set(answers_seen) <= {401, 503} and 503 in answers_seen  # told to try again
