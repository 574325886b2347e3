"""The box on the office network, with real multicast between two network namespaces the
test creates (joined by a veth pair): boxes announce in one, `edge discover` listens in the
other. Needs root and iproute2: skipped on a developer's machine without them, failed in CI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import EDGE, ROOT, edge_cli

NET = "10.77.0"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def lan() -> Iterator[tuple[str, str]]:
    """Two namespaces on one link: the box's side and the IT officer's laptop."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the mDNS tests need root and iproute2 to make network namespaces")
        pytest.skip("needs root and iproute2 (network namespaces)")
    box, laptop = f"edge-box-{os.getpid()}", f"edge-it-{os.getpid()}"
    ip("netns", "add", box)
    ip("netns", "add", laptop)
    try:
        ip(
            "link",
            "add",
            "veth-box",
            "netns",
            box,
            "type",
            "veth",
            "peer",
            "veth-it",
            "netns",
            laptop,
        )
        for ns, dev, host in ((box, "veth-box", 1), (laptop, "veth-it", 2)):
            ip("-n", ns, "addr", "add", f"{NET}.{host}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield box, laptop
    finally:
        ip("netns", "del", box)
        ip("netns", "del", laptop)


def in_ns(ns: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *cmd]


def serve(ns: str, home: Path) -> subprocess.Popen[bytes]:
    port_file = home / "port"
    proc = subprocess.Popen(
        in_ns(
            ns, *EDGE, "--home", str(home), "serve", "--port", "0", "--port-file", str(port_file)
        ),
        cwd=ROOT,
        stdout=open(home / "serve.log", "ab"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not port_file.exists():
        assert proc.poll() is None and time.monotonic() < deadline, (home / "serve.log").read_text()
        time.sleep(0.05)
    return proc


def discover(ns: str, seconds: float = 3) -> list[dict[str, object]]:
    out = subprocess.run(
        in_ns(ns, *EDGE, "discover", "--json", "--seconds", str(seconds)),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found: list[dict[str, object]] = json.loads(out.stdout)
    return found


def until(ns: str, check: object, seconds: float = 30) -> list[dict[str, object]]:
    deadline = time.monotonic() + seconds
    while True:
        found = discover(ns, 2)
        if check(found) or time.monotonic() > deadline:  # type: ignore[operator]
            return found


def test_boxes_announce_rename_on_clash_follow_changes_and_withdraw(
    lan: tuple[str, str], tmp_path: Path
) -> None:
    box_ns, laptop = lan
    homes = []
    for name in ("one", "two"):  # two boxes, one office name: the second is renamed
        home = tmp_path / name
        edge_cli(home, "init", "--demo", "--office-name", "Ramallah Clinic")
        homes.append(home)
    procs = [serve(box_ns, homes[0])]
    try:
        until(laptop, lambda f: len(f) == 1)
        procs.append(serve(box_ns, homes[1]))
        found = until(laptop, lambda f: len(f) == 2 and len({x["host"] for x in f}) == 2)
        names = sorted(str(f["name"]) for f in found)
        assert names == ["Ramallah Clinic", "Ramallah Clinic-2"], found
        hosts = sorted(str(f["host"]) for f in found)  # host names renamed too
        assert hosts == ["ramallah-clinic-2.local.", "ramallah-clinic.local."], found
        first = next(f for f in found if f["box"] == _box_id(homes[0]))
        assert first["office"] == "office-1" and first["wan"] == "unknown"
        assert first["waiting"] == 0 and first["addresses"] == [f"{NET}.1"]
        assert first["version"]

        # Live state: an action waiting shows in the TXT record without a restart.
        _declare(box_ns, homes[0])
        found = until(laptop, lambda f: any(x["waiting"] == 1 for x in f))
        assert next(f for f in found if f["box"] == _box_id(homes[0]))["waiting"] == 1

        # A new address (DHCP renewal, cable moved) is followed without a restart.
        ip("-n", box_ns, "addr", "add", f"{NET}.11/24", "dev", "veth-box")
        found = until(laptop, lambda f: all(f"{NET}.11" in x["addresses"] for x in f))
        assert all(f"{NET}.11" in f["addresses"] for f in found)

        # Stopped, a box withdraws its announcement.
        procs[1].send_signal(signal.SIGTERM)
        procs[1].wait(timeout=20)
        found = until(laptop, lambda f: len(f) == 1)
        assert [f["box"] for f in found] == [_box_id(homes[0])]
        announced = subprocess.run(
            [*EDGE, "--home", str(homes[0]), "doctor", "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        mdns = next(f for f in json.loads(announced.stdout) if f["check"] == "mdns")
        assert mdns["ok"], mdns
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=20)


def _box_id(home: Path) -> str:
    import tomllib

    return str(tomllib.loads((home / "edge.toml").read_text())["box_id"])


def _declare(ns: str, home: Path) -> None:
    """A record made through the box's API, from inside its namespace."""
    script = (
        "import httpx,sys; u=f'http://127.0.0.1:{open(sys.argv[1]).read()}';"
        "c=httpx.Client(base_url=u);"
        "t=c.post('/api/v1/auth/login',json={'username':'clerk','password':'demo-password'})"
        ".json()['csrf_token'];"
        "c.post('/api/v1/records',json={'event_type':'birth'},headers={'x-csrf-token':t})"
        ".raise_for_status()"
    )
    subprocess.run(in_ns(ns, sys.executable, "-c", script, str(home / "port")), check=True)


def test_an_announcement_that_fails_is_retried_and_never_stops_the_box(tmp_path: Path) -> None:
    import httpx

    from tests.helpers import running_box

    home = tmp_path / "box"
    edge_cli(home, "init", "--demo")
    # An address this machine does not have: zeroconf cannot bind, nothing is sent anywhere.
    env = {**os.environ, "EDGE_MDNS_INTERFACES": "10.255.255.1"}
    with running_box(home, env=env) as box:
        deadline = time.monotonic() + 15
        while "mDNS announcement failed" not in (home / "serve.log").read_text():
            assert time.monotonic() < deadline, (home / "serve.log").read_text()
            time.sleep(0.2)
        assert httpx.get(box.url + "/healthz").status_code == 200
        assert box.client("clerk").get("/api/v1/auth/me").status_code == 200
    assert "retrying in" in (home / "serve.log").read_text()
