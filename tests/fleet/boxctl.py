"""A stand-in for systemctl on a test box (the test machine has no systemd as PID 1): it runs
the ExecStart= of the unit files edge-release installed under $EDGE_ROOT/etc/systemd/system,
with the box's paths placed under $EDGE_ROOT, as detached processes it tracks by pid file.
Enough of systemctl for edge-release: restart, start, stop, is-active, is-enabled, enable,
daemon-reload, and `reload ssh` (SIGHUP to the test box's sshd). Standard library only."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ["EDGE_ROOT"])
STATE = ROOT / "run/boxctl"
LOGS = ROOT / "var/log"


def _pid(unit: str) -> int | None:
    try:
        pid = int((STATE / f"{unit}.pid").read_text())
    except (OSError, ValueError):
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if state != "Z" and str(ROOT).encode() in cmdline else None


def _unit(unit: str) -> dict[str, str]:
    values = {}
    for line in (ROOT / "etc/systemd/system" / unit).read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def stop(unit: str) -> None:
    pid = _pid(unit)
    if pid is None:
        return
    kill = _unit(unit).get("KillSignal", "SIGTERM")
    os.kill(pid, getattr(signal, kill))
    deadline = time.monotonic() + 20
    while _pid(unit) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid(unit) == pid:
        os.kill(pid, signal.SIGKILL)
    (STATE / f"{unit}.pid").unlink(missing_ok=True)


def start(unit: str) -> None:
    if _pid(unit) is not None:
        return
    words = shlex.split(_unit(unit)["ExecStart"])
    boxed = [f"{ROOT}{w}" if w.startswith(("/opt/edge/", "/var/lib/edge")) else w for w in words]
    LOGS.mkdir(parents=True, exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"{unit}.log", "ab") as log:
        proc = subprocess.Popen(
            boxed,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (STATE / f"{unit}.pid").write_text(str(proc.pid))


def main(argv: list[str]) -> int:
    verb, units = argv[0], argv[1:]
    if verb in ("daemon-reload",):
        return 0
    if verb == "reload" and units == ["ssh"]:
        os.kill(int((ROOT / "run/sshd.pid").read_text()), signal.SIGHUP)
        return 0
    if verb == "enable":
        STATE.mkdir(parents=True, exist_ok=True)
        for unit in units:
            (STATE / f"{unit}.enabled").touch()
        return 0
    if verb == "is-enabled":
        return 0 if (STATE / f"{units[0]}.enabled").exists() else 1
    if verb == "is-active":
        active = _pid(units[0]) is not None
        print("active" if active else "inactive")
        return 0 if active else 3
    for unit in units:
        if verb in ("stop", "restart"):
            stop(unit)
        if verb in ("start", "restart"):
            start(unit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
