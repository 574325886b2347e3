"""Real wheels for test releases, built once and cached outside the clone.

- The dependencies (and pip): `pip wheel` of the project, keyed by the exact versions this
  venv has installed (so a box gets what the tests run with); pip's own cache makes the
  first build a few seconds, later sessions take it from ~/.cache.
- The app: `pip wheel --no-deps` of a copy of the sources with the version set, keyed by
  the sources' hash, so 0.1.0 and 0.1.1 are the real project under two versions.
- A broken app: a tiny `edge-box` whose `edge serve` answers /readyz with 503 (and whose
  worker idles), for the rollback test.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.helpers import ROOT

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edge-box-tests"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
SOURCES = ("edge", "upstream_sync", "provisioning")


def _pip(*args: str) -> None:
    done = subprocess.run([*PIP, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip {' '.join(args)}: {done.stderr[-2000:]}")


def _cached(key: str, build: Callable[[Path], None]) -> Path:
    folder = CACHE / key
    if not folder.is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=CACHE, prefix=".building-"))
        try:
            build(tmp)
            os.replace(tmp, folder)
        except OSError:
            if not folder.is_dir():  # not another session that built it meanwhile
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def dependencies() -> list[Path]:
    """Every dependency wheel and pip's, for the versions installed here."""
    frozen = subprocess.run(
        [*PIP, "freeze", "--exclude-editable"], capture_output=True, text=True, check=True
    ).stdout
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    key = hashlib.sha256(frozen.encode() + pyproject + sys.version.encode()).hexdigest()[:16]

    def build(out: Path) -> None:
        _pip("wheel", "-w", str(out), str(ROOT), "pip")
        for app in out.glob("edge_box-*.whl"):
            app.unlink()

    return sorted(_cached(f"deps-{key}", build).glob("*.whl"))


def _source_hash() -> str:
    digest = hashlib.sha256()
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    digest.update((ROOT / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


def app(version: str) -> Path:
    """The project's own wheel, as version `version`."""

    def build(out: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp)
            for top in SOURCES:
                skip = shutil.ignore_patterns("__pycache__")
                shutil.copytree(ROOT / top, src / top, ignore=skip)
            shutil.copy(ROOT / "README.md", src)
            text = (ROOT / "pyproject.toml").read_text()
            text = re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', text, count=1)
            (src / "pyproject.toml").write_text(text)
            _pip("wheel", "--no-deps", "-w", str(out), str(src))

    return next(_cached(f"app-{_source_hash()}-{version}", build).glob("*.whl"))


BROKEN = """
import http.server, sys, time, tomllib, pathlib

def main():
    args = sys.argv[1:]
    home = pathlib.Path(args[args.index("--home") + 1])
    if "worker" in args:
        while True:
            time.sleep(60)
    if "serve" not in args:
        print("edge (broken test release): only serve and worker", file=sys.stderr)
        return 2
    port = int(tomllib.loads((home / "edge.toml").read_text()).get("port", 8080))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = self.path == "/healthz"
            self.send_response(200 if ok else 503)
            self.send_header("content-type", "application/json")
            self.end_headers()
            body = '{"status": "not ready", "checks": {"database": false}}'
            self.wfile.write(b'{"status": "ok"}' if ok else body.encode())

    http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
"""


def broken(version: str) -> Path:
    """A real edge-box wheel that starts but is never ready."""

    def build(out: Path) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp)
            (src / "edge").mkdir()
            (src / "edge/__init__.py").write_text("")
            (src / "edge/cli.py").write_text(BROKEN)
            (src / "pyproject.toml").write_text(
                '[build-system]\nrequires = ["setuptools>=77"]\n'
                'build-backend = "setuptools.build_meta"\n'
                f'[project]\nname = "edge-box"\nversion = "{version}"\n'
                '[project.scripts]\nedge = "edge.cli:main"\n'
                '[tool.setuptools]\npackages = ["edge"]\n'
            )
            _pip("wheel", "--no-deps", "-w", str(out), str(src))

    key = hashlib.sha256(BROKEN.encode()).hexdigest()[:12]
    return next(_cached(f"broken-{key}-{version}", build).glob("*.whl"))
