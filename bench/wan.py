"""A month offline, drained across a thin, lossy WAN (bench/support/link.py).

The box and the registry run in two network namespaces joined by an emulated link: 256 kbit/s
each way, 300 ms round trip, 3 % of the frames lost each way. The box holds N pending actions
(CREATE + DECLARE of N/2 births; BENCH_WAN_N, 50,000 by default: about a month of a busy
office). `edge worker` drains them to a real registry; when half are accepted, the link is cut
for BENCH_WAN_CUT seconds (30). Measured: the drain time (from the worker's start to the last
action accepted), the bytes per action on the wire (IP bytes both ways, retransmissions
included), the link's utilisation (the IP bytes clocked out towards the registry over the
link's capacity while it was up), the worker's peak RSS, and, counted at the registry, the
actions it received that it already held (sent twice): at most the batches in flight when the
link went down.

BENCH_WAN_TIMELINE=1 also prints the rate the link carried towards the registry every 5 s.

In the same run, the naive way over the same link: one HTTP request per action, plain JSON,
on a kept-alive connection (bench/support/naive_registry.py), measured on a sample of
BENCH_WAN_NAIVE_N actions (100) and extrapolated to N. Prints the figures and the ratio, then
one JSON object as the last line. Needs root (network namespaces) and ethtool.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "support"))

from link import REGISTRY_ADDRESS, Link  # noqa: E402

from upstream_sync.stages.push import MAX_IN_FLIGHT  # noqa: E402

CI = os.environ.get("CI", "").lower() == "true"
N = int(os.environ.get("BENCH_WAN_N", "5000" if CI else "50000"))
NAIVE_N = int(os.environ.get("BENCH_WAN_NAIVE_N", "30" if CI else "100"))
CUT_SECONDS = float(os.environ.get("BENCH_WAN_CUT", "30"))
REPEATS = int(os.environ.get("BENCH_WAN_REPEATS", "1"))
RATE_BPS, ROUND_TRIP, LOSS = 256_000, 0.300, 0.03
REGISTRY = [sys.executable, str(ROOT / "bench" / "support" / "wan_registry.py")]
OFFICE = "office-wan"


class Office:
    """The registry in its namespace, an enrolled box in the other, N pending actions."""

    def __init__(self, tmp: Path, link: Link) -> None:
        from bench.sync import _copy, fill
        from tests.helpers import edge_cli, registry_cli

        self.link, self.tmp = link, tmp
        self.reg_home = tmp / "registry"
        self.reg_home.mkdir()
        registry_cli(self.reg_home, "init")
        self.process = self.start_registry()
        self.home = tmp / "box"
        edge_cli(self.home, "init", "--demo", "--office-id", OFFICE)
        token = registry_cli(self.reg_home, "token", "--office-id", OFFICE).stdout.strip()
        subprocess.run(
            [*link.exec_in("box"), *_edge(self.home), "enroll", self.url, token],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        started = time.perf_counter()
        fill(self.home, N)
        print(f"(filled the box with {N} pending actions in {time.perf_counter() - started:.0f} s)")
        self.saved = {
            path: _copy(path, tmp / f"{path.name}.saved", self._key(path))
            for path in (self.home / "journal.db", self.reg_home / "registry.db")
        }

    def _key(self, path: Path) -> bytes | None:
        from bench.sync import database_key

        return database_key(path, self.home)

    @property
    def url(self) -> str:
        return f"http://{REGISTRY_ADDRESS}:{self.port}"

    def start_registry(self) -> subprocess.Popen[bytes]:
        port_file = self.reg_home / "port"
        port_file.unlink(missing_ok=True)
        log = open(self.reg_home / "registry.log", "ab")  # noqa: SIM115 - closed with it
        proc = subprocess.Popen(
            [
                *self.link.exec_in("registry"),
                *REGISTRY,
                *("--home", str(self.reg_home), "serve", "--host", REGISTRY_ADDRESS),
                *("--port", str(getattr(self, "port", 0)), "--port-file", str(port_file)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.reg_home / "registry.log").read_text()[-2000:])
            time.sleep(0.05)
        self.port = int(port_file.read_text().strip())
        return proc

    def reset(self) -> None:
        """Back to N pending actions and a registry that holds none of them."""
        from bench.sync import _copy
        from tests.helpers import stop_process

        stop_process(self.process)
        (self.reg_home / "counts.json").unlink(missing_ok=True)
        for path, saved in self.saved.items():
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
            _copy(saved, path, self._key(path))
        self.process = self.start_registry()

    def counts(self) -> dict[str, int]:
        path = self.reg_home / "counts.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def close(self) -> None:
        from tests.helpers import stop_process

        stop_process(self.process)


def _edge(home: Path) -> list[str]:
    return [sys.executable, "-m", "edge", "--home", str(home)]


def drain_once(office: Office) -> dict[str, float]:
    from bench.sync import accepted

    office.reset()
    link, home = office.link, office.home
    link.reset_counters()
    log = open(home / "worker.log", "ab")  # noqa: SIM115 - closed below
    start = time.perf_counter()
    worker = subprocess.Popen(
        [*link.exec_in("box"), *_edge(home), "worker"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    cut_at: float | None = None
    deadline = start + 4 * 3600
    timeline: list[tuple[float, int, int]] = []
    try:
        while (done := accepted(home)) < N:
            timeline.append((time.perf_counter() - start, link.up.clocked, done))
            if cut_at is None and done >= N // 2 and CUT_SECONDS > 0:
                cut_at = time.perf_counter() - start
                link.cut(CUT_SECONDS)
                print(f"(link cut for {CUT_SECONDS:.0f} s at {cut_at:.0f} s, {done} accepted)")
            if worker.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError("the worker stopped or stalled: see " + str(home / "worker.log"))
            time.sleep(0.2)
        seconds = time.perf_counter() - start
    finally:
        worker.send_signal(signal.SIGINT)
        _, _, usage = os.wait4(worker.pid, 0)
    log.close()
    if os.environ.get("BENCH_WAN_TIMELINE"):
        marks = [t for t in timeline if t[0] >= 0]
        k = 0
        for i, (t, b, d) in enumerate(marks):
            if t - marks[k][0] >= 5:
                rate = (b - marks[k][1]) * 8 / (t - marks[k][0]) / 1000
                print(f"  {marks[k][0]:6.1f}-{t:6.1f} s: {rate:5.0f} kbit/s, {d} accepted")
                k = i
    up, down = link.up, link.down
    counts = office.counts()
    up_seconds = seconds - (CUT_SECONDS if cut_at is not None else 0)
    resent = counts.get("duplicate", 0)
    return {
        "seconds": seconds,
        "cut_at_seconds": cut_at or 0.0,
        "bytes_per_action": (up.offered + down.offered) / N,
        "bytes_per_action_up": up.offered / N,
        "bytes_per_action_down": down.offered / N,
        "link_utilisation_pct": 100 * up.clocked * 8 / (RATE_BPS * up_seconds),
        "worker_peak_rss_mb": usage.ru_maxrss / 1024,
        "registry_batches": counts.get("batches", 0),
        "largest_batch": counts.get("largest_batch", 0),
        "sent_twice": resent,
        "sent_twice_within_batches_in_flight": int(
            resent <= MAX_IN_FLIGHT * counts.get("largest_batch", 0)
        ),
        "accepted_at_registry": counts.get("accepted", 0),
    }


def naive_client(home: str, url: str, n: int) -> None:
    """In the box's namespace: n actions, one request each; prints seconds as JSON."""
    from bench.sync import send_naive

    print(json.dumps({"seconds": send_naive(Path(home), url, n, timeout=120)}))


def naive_once(office: Office) -> dict[str, float]:
    office.reset()
    office.link.reset_counters()
    out = subprocess.run(
        [
            *office.link.exec_in("box"),
            sys.executable,
            __file__,
            "--naive-client",
            str(office.home),
            office.url,
            str(NAIVE_N),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    seconds = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
    up, down = office.link.up, office.link.down
    return {
        "sample": NAIVE_N,
        "seconds": seconds,
        "actions_per_s": NAIVE_N / seconds,
        "bytes_per_action": (up.offered + down.offered) / NAIVE_N,
        "extrapolated_seconds": N * seconds / NAIVE_N,
    }


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def main() -> None:
    # Stopped (Ctrl-C, SIGTERM): the namespaces, the registry and the worker go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    link = Link(RATE_BPS, ROUND_TRIP, LOSS)
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            office = Office(Path(tmp_name), link)
            try:
                naive = medians([naive_once(office) for _ in range(REPEATS)])
                drain = medians([drain_once(office) for _ in range(REPEATS)])
            finally:
                office.close()
    finally:
        link.close()
    payload_seconds = N * drain["bytes_per_action_up"] * 8 / RATE_BPS
    drain["speedup_vs_naive"] = round(naive["extrapolated_seconds"] / drain["seconds"], 1)
    drain["bytes_ratio_vs_naive"] = round(drain["bytes_per_action"] / naive["bytes_per_action"], 3)
    link_text = f"{RATE_BPS // 1000} kbit/s, {ROUND_TRIP * 1000:.0f} ms round trip, {LOSS:.0%} loss"
    print(
        f"naive (one request per action, plain JSON) over {link_text}: "
        f"{naive['actions_per_s']} actions/s, {naive['bytes_per_action']} bytes/action "
        f"(a sample of {NAIVE_N}); {N} actions would take {naive['extrapolated_seconds']:.0f} s"
    )
    print(
        f"edge worker, {N} actions, the link cut for {CUT_SECONDS:.0f} s at "
        f"{drain['cut_at_seconds']:.0f} s: drained in {drain['seconds']} s "
        f"({drain['speedup_vs_naive']}x naive), {drain['bytes_per_action']} bytes/action on the "
        f"wire ({drain['bytes_per_action_up']} up, {drain['bytes_per_action_down']} down; "
        f"{drain['bytes_ratio_vs_naive']}x naive), link used {drain['link_utilisation_pct']} % "
        f"while up (its bytes alone need {payload_seconds:.0f} s), worker peak RSS "
        f"{drain['worker_peak_rss_mb']} MB"
    )
    print(
        f"registry: {drain['registry_batches']} batches, the largest {drain['largest_batch']} "
        f"actions; {drain['sent_twice']} actions received twice "
        f"({'within' if drain['sent_twice_within_batches_in_flight'] else 'MORE than'} the "
        f"{MAX_IN_FLIGHT} batches in flight at most); median of {REPEATS}"
    )
    print(
        json.dumps(
            {
                "link": {"rate_bps": RATE_BPS, "round_trip_s": ROUND_TRIP, "loss": LOSS},
                "actions": N,
                "repeats": REPEATS,
                "cut_seconds": CUT_SECONDS,
                "naive": naive,
                "drain": drain,
            }
        )
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--naive-client":
        naive_client(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
