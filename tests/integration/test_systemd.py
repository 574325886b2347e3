"""The systemd units: valid, hardened to an exposure of 2.0 or lower, and `edge serve`
speaking the notify protocol (READY once serving, watchdog pings from its event loop)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import EDGE, ROOT, edge_cli, stop_process

UNITS = sorted((ROOT / "systemd").glob("*.service"))
GOAL = 2.0


def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze is missing (Debian package systemd)")
        pytest.skip("systemd-analyze is not installed")
    return tool


def test_there_is_a_unit_for_the_web_process_and_one_for_the_worker() -> None:
    names = {u.name for u in UNITS}
    assert {"edge-web.service", "edge-worker.service"} <= names


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_units_verify_and_rate_as_hardened(unit: Path, tmp_path: Path) -> None:
    tool = analyze()
    # verify wants the program to exist: point ExecStart at this checkout's `edge`.
    local = tmp_path / unit.name
    edge = ROOT / ".venv" / "bin" / "edge"
    local.write_text(unit.read_text().replace("/opt/edge/current/bin/edge", str(edge)))
    verify = subprocess.run([tool, "verify", str(local)], capture_output=True, text=True)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    rated = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
    )
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", rated.stdout)
    assert level, rated.stdout[-500:] + rated.stderr
    assert float(level.group(1)) <= GOAL, rated.stdout


def test_the_units_explain_themselves() -> None:
    for unit in UNITS:
        text = unit.read_text()
        for option in ("ProtectClock", "KillSignal", "WatchdogSec", "RestrictAddressFamilies"):
            if f"\n{option}=" in text:
                before = text.split(f"\n{option}=")[0].rstrip().splitlines()[-1]
                assert before.startswith("#"), f"{unit.name}: {option} needs a comment"


def test_serve_tells_systemd_it_is_ready_and_feeds_the_watchdog(tmp_path: Path) -> None:
    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(20)
    port_file = tmp_path / "port"
    env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}
    env["EDGE_MDNS_INTERFACES"] = "off"  # stay off the real network
    proc = subprocess.Popen(
        [*EDGE, "--home", str(home), "serve", "--port", "0", "--port-file", str(port_file)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env.pop("WATCHDOG_USEC")
    try:
        first = listener.recv(4096).decode()
        assert first.startswith("READY=1")
        # READY comes once the listener is up: the box answers now.
        assert httpx.get(f"http://127.0.0.1:{port_file.read_text()}/healthz").status_code == 200
        pings, deadline = 0, time.monotonic() + 5
        while pings < 3 and time.monotonic() < deadline:
            if listener.recv(4096) == b"WATCHDOG=1":
                pings += 1
        assert pings == 3  # every 0.2 s, half the watchdog period
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)  # a prompt, clean stop
    finally:
        stop_process(proc)  # type: ignore[arg-type]
        listener.close()
