"""`make demo`: a demo box with demo users, served on this machine.

The box lives in ./demo-home (delete the folder to start again). Its demo users share one
published password; a real box never has such users.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.commands.init import DEMO_PASSWORD

ROOT = Path(__file__).resolve().parent.parent
HOME = Path(os.environ.get("EDGE_DEMO_HOME", ROOT / "demo-home"))
PORT = os.environ.get("EDGE_DEMO_PORT", "8080")
EDGE = [sys.executable, "-m", "edge", "--home", str(HOME)]

USERS = [
    ("clerk", "Amina Haddad", "Clinic clerk / field agent: declares births and deaths"),
    ("agent", "Yusuf Nasser", "Registration agent: reviews, validates, rejects"),
    ("registrar", "Layla Khoury", "Local registrar: registers and approves corrections"),
    ("hospadmin", "Omar Saleh", "Hospital administrator: attests deaths"),
    ("admin", "Local administrator", "Local system admin: manages users"),
]


def main() -> int:
    if not (HOME / "edge.toml").exists():
        subprocess.run(
            [*EDGE, "init", "--demo", "--office-id", "demo-clinic", "--office-name", "Demo Clinic"],
            check=True,
            cwd=ROOT,
        )
    url = f"http://localhost:{PORT}"
    print(f"""
The demo box is starting at {url}
  API documentation (OpenAPI): {url}/api/schema
  Health check:                {url}/healthz

Demo logins (every demo user's password is "{DEMO_PASSWORD}"):""")
    for username, name, role in USERS:
        print(f"  {username:<10} {name:<20} {role}")
    print(
        f"""
Try the API with a token for scripts (issued by the IT officer's command line):
  TOKEN=$(.venv/bin/edge --home {HOME} users token clerk --name demo)
  curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"event_type": "birth", "declaration": {{"child.first_name": "Sara"}}}}' \\
       {url}/api/v1/records
  curl -s -H "Authorization: Bearer $TOKEN" {url}/api/v1/workqueues

The box's data is in {HOME}. Press Ctrl+C to stop.
""",
        flush=True,
    )
    try:
        return subprocess.call([*EDGE, "serve", "--port", PORT], cwd=ROOT)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
