"""Releases on the laptop: a folder per version under `<fleet>/releases/<version>/` with the
edge-box wheel, every dependency wheel, a pip wheel (the box installs with no index and
needs no pip of its own) and manifest.json (each wheel's sha256, the systemd units)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.errors import FleetError
from provisioning.onbox.layout import sha256_file as sha256


@dataclass(frozen=True)
class Bundle:
    version: str
    folder: Path
    manifest: dict[str, Any]

    @property
    def wheels(self) -> dict[str, str]:
        wheels: dict[str, str] = self.manifest["wheels"]
        return wheels

    def path(self, name: str) -> Path:
        return self.folder / name

    def size(self, name: str) -> int:
        return self.path(name).stat().st_size


def make(wheels: list[Path], units: Path, releases: Path) -> Bundle:
    """A release folder from a set of wheels and the systemd units to run it with."""
    apps = [w for w in wheels if w.name.startswith("edge_box-")]
    if len(apps) != 1:
        raise FleetError("a release needs exactly one edge_box wheel")
    if not any(w.name.startswith("pip-") for w in wheels):
        raise FleetError("a release needs a pip wheel (the box installs with no index)")
    version = apps[0].name.split("-")[1]
    folder = releases / version
    if (folder / "manifest.json").exists():
        raise FleetError(f"release {version} exists already in {releases}; remove it first")
    folder.mkdir(parents=True)
    for wheel in wheels:
        shutil.copyfile(wheel, folder / wheel.name)
    manifest = {
        "format": 1,
        "version": version,
        "app": apps[0].name,
        "wheels": {w.name: sha256(folder / w.name) for w in sorted(wheels)},
        "units": {u.name: u.read_text() for u in sorted(units.glob("*.service"))},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return Bundle(version, folder, manifest)


def build(project: Path, releases: Path, platform: str = "", python: str = "") -> Bundle:
    """Wheels for a box from a checkout: pip builds the app and fetches the dependencies
    (for another platform, e.g. `manylinux2014_aarch64` for a Raspberry Pi, only wheels)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        _pip([*pip, "wheel", "--no-deps", "-w", str(out), str(project)])
        app = next(out.glob("edge_box-*.whl"))
        if platform:
            cross = ["--only-binary=:all:", "--platform", platform]
            cross += ["--python-version", python or "3.11"]
            _pip([*pip, "download", *cross, "-d", str(out), str(app), "pip"])
        else:
            _pip([*pip, "wheel", "-w", str(out), str(project), "pip"])
        return make(sorted(out.glob("*.whl")), project / "systemd", releases)


def _pip(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise FleetError(f"pip failed: {done.stderr.strip()[-800:]}")


def load(releases: Path, version: str) -> Bundle:
    """A release folder, every wheel present and matching its sha256."""
    folder = releases / version
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        raise FleetError(
            f"release {version} is not in {releases}: `edge-fleet release add` it first"
        ) from None
    for name, digest in manifest["wheels"].items():
        path = folder / name
        if not path.is_file() or sha256(path) != digest:
            raise FleetError(f"release {version}: {name} is missing or damaged")
    return Bundle(version, folder, manifest)
