"""`make demo`: the reference registry, a box enrolled with it, and the box's sync worker,
with demo users, all on this machine.

Everything lives in ./demo-home (delete the folder to start again). The demo users share one
published password; a real box never has such users.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from edge.commands.init import DEMO_PASSWORD  # noqa: E402

DEMO = Path(os.environ.get("EDGE_DEMO_HOME", ROOT / "demo-home"))
BOX, REGISTRY = DEMO / "box", DEMO / "registry"
PORT = os.environ.get("EDGE_DEMO_PORT", "8080")
REGISTRY_PORT = os.environ.get("EDGE_DEMO_REGISTRY_PORT", "8090")
EDGE = [sys.executable, "-m", "edge", "--home", str(BOX)]
EDGE_REGISTRY = [sys.executable, "-m", "upstream_sync.registry.cli", "--home", str(REGISTRY)]

USERS = [
    ("clerk", "Amina Haddad", "Clinic clerk / field agent: declares births and deaths"),
    ("agent", "Yusuf Nasser", "Registration agent: reviews, validates, rejects"),
    ("registrar", "Layla Khoury", "Local registrar: registers and approves corrections"),
    ("hospadmin", "Omar Saleh", "Hospital administrator: attests deaths"),
    ("admin", "Local administrator", "Local system admin: manages users"),
]


def wait_until_up(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up; see the logs in {DEMO}")


def main() -> int:
    DEMO.mkdir(exist_ok=True)
    # The demo runs on this computer, whose own clock is right (and is the demo registry's):
    # its times are not marked "the box's clock was not yet set" as a Pi's are before NTP.
    os.environ.setdefault("EDGE_CLOCK", "host")
    children: list[subprocess.Popen[bytes]] = []
    try:
        if not (REGISTRY / "registry.key").exists():
            REGISTRY.mkdir(parents=True, exist_ok=True)
            token = subprocess.run(
                [*EDGE_REGISTRY, "init"], check=True, capture_output=True, text=True
            ).stdout.strip()
            (REGISTRY / "admin-token.txt").write_text(token + "\n")
            os.chmod(REGISTRY / "admin-token.txt", 0o600)
        registry_log = open(DEMO / "registry.log", "ab")  # noqa: SIM115 - for the child
        children.append(
            subprocess.Popen(
                [*EDGE_REGISTRY, "serve", "--port", REGISTRY_PORT],
                stdout=registry_log,
                stderr=subprocess.STDOUT,
            )
        )
        registry_url = f"http://127.0.0.1:{REGISTRY_PORT}"
        wait_until_up(registry_url + "/v1/hello")
        if not (BOX / "edge.toml").exists():
            subprocess.run(
                [
                    *EDGE,
                    "init",
                    "--demo",
                    "--office-id",
                    "demo-clinic",
                    "--office-name",
                    "Demo Clinic",
                ],
                check=True,
                cwd=ROOT,
            )
            enrollment = subprocess.run(
                [*EDGE_REGISTRY, "token", "--office-id", "demo-clinic"],
                check=True,
                capture_output=True,
                text=True,
            )
            subprocess.run(
                [*EDGE, "enroll", registry_url, enrollment.stdout.strip()], check=True, cwd=ROOT
            )
        worker_log = open(DEMO / "worker.log", "ab")  # noqa: SIM115 - for the child
        children.append(
            subprocess.Popen(
                [*EDGE, "worker"], stdout=worker_log, stderr=subprocess.STDOUT, cwd=ROOT
            )
        )
        url = f"http://localhost:{PORT}"
        print(f"""
The demo box is starting at {url}  (open it in a browser and log in)
  API documentation (OpenAPI): {url}/api/schema
  Health check:                {url}/healthz
The box is enrolled with the demo national registry at {registry_url}; its sync worker
forwards every action there (national journal: {registry_url}/admin/v1/actions with the
admin token in {REGISTRY / "admin-token.txt"}).

Demo logins (every demo user's password is "{DEMO_PASSWORD}"):""")
        for username, name, role in USERS:
            print(f"  {username:<10} {name:<20} {role}")
        print(
            f"""
Try the API with a token for scripts (issued by the IT officer's command line):
  TOKEN=$(.venv/bin/edge --home {BOX} users token clerk --name demo)
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"event_type": "birth", "declaration": {{"child.first_name": "Sara"}}}}' \\
       {url}/api/v1/records

Logs are in {DEMO}. Press Ctrl+C to stop everything.
""",
            flush=True,
        )
        return subprocess.call([*EDGE, "serve", "--port", PORT], cwd=ROOT)
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    raise SystemExit(main())
