"""Releases on a box: a content-addressed wheel store, shared dependency layers, and one venv
per version under /opt/edge/releases/<version>.

A release venv holds only the edge-box wheel; its dependencies live in a layer under
/opt/edge/deps/<key> (key: the exact set of dependency wheels and the Python version) that a
`.pth` file adds to the venv. An upgrade that changes only the app installs one wheel in a
second or two instead of forty, and the layer of the previous release stays for rollback.
Everything is installed with pip, `--no-index`, from wheels carried to the box.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from .layout import KEEP_RELEASES, Layout, Refused, run, sha256_file, sync_dir, write_atomic

MANIFEST = "edge-release.json"
COMPLETE = ".complete"
VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
WHEEL = re.compile(r"^[A-Za-z0-9_.+-]+\.whl$")
SHA = re.compile(r"^[0-9a-f]{64}$")


def check_manifest(m: dict[str, Any]) -> dict[str, Any]:
    """A release manifest: version, app wheel, every wheel with its sha256, the unit files."""
    wheels = m.get("wheels")
    if not isinstance(wheels, dict) or not wheels:
        raise Refused("the manifest lists no wheels")
    for name, sha in wheels.items():
        if not WHEEL.match(str(name)) or not SHA.match(str(sha)):
            raise Refused(f"the manifest's wheel entry {name!r} is not a wheel name and sha256")
    if not VERSION.match(str(m.get("version", ""))):
        raise Refused(f"the manifest's version {m.get('version')!r} is not a version")
    if m.get("app") not in wheels:
        raise Refused("the manifest's app wheel is not among its wheels")
    if not any(n.startswith("pip-") for n in wheels):
        raise Refused("the manifest has no pip wheel (needed to install with no index)")
    units = m.get("units", {})
    if not isinstance(units, dict) or not all(isinstance(v, str) for v in units.values()):
        raise Refused("the manifest's units must map unit names to their text")
    return m


def manifest_sha(m: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(m, sort_keys=True).encode()).hexdigest()


def stored(lay: Layout) -> dict[str, str]:
    """sha256 -> file name of every wheel in the store."""
    out = {}
    if lay.wheels.is_dir():
        for d in lay.wheels.iterdir():
            files = [f for f in d.iterdir() if f.suffix == ".whl"] if d.is_dir() else []
            if SHA.match(d.name) and len(files) == 1:
                out[d.name] = files[0].name
    return out


def store(lay: Layout, wanted: dict[str, str]) -> dict[str, Any]:
    """Move uploaded `<incoming>/<sha256>.part` files into the store once their hash matches."""
    have, bad = stored(lay), []
    for name, sha in wanted.items():
        if sha in have or not WHEEL.match(name) or not SHA.match(sha):
            continue
        part = lay.incoming / f"{sha}.part"
        if not part.is_file():
            bad.append(f"{name}: not uploaded")
        elif sha256_file(part) != sha:
            part.unlink()  # a corrupt upload starts again from zero
            bad.append(f"{name}: its content does not match its sha256 (upload again)")
        else:
            (lay.wheels / sha).mkdir(parents=True, exist_ok=True)
            part.replace(lay.wheels / sha / name)
            sync_dir(lay.wheels / sha)
    return {"ok": not bad, "missing": bad, "error": "; ".join(bad)}


def add_wheelhouse(lay: Layout, folder: Path, units: Path | None) -> dict[str, Any]:
    """A manifest for a folder of wheels (its manifest.json, or one made from its files),
    with the wheels copied into the store: what the image build uses."""
    given = folder / "manifest.json"
    if given.is_file():
        m: dict[str, Any] = json.loads(given.read_text())
    else:
        names = sorted(p.name for p in folder.glob("*.whl"))
        apps = [n for n in names if n.startswith("edge_box-")]
        if len(apps) != 1:
            raise Refused(f"{folder} must hold exactly one edge_box wheel")
        version = apps[0].split("-")[1]
        m = {"version": version, "app": apps[0], "wheels": {}, "units": {}}
        m["wheels"] = {n: sha256_file(folder / n) for n in names}
    if units is not None:
        m["units"] = {p.name: p.read_text() for p in sorted(units.glob("*.service"))}
    check_manifest(m)
    for name, sha in m["wheels"].items():
        if sha not in stored(lay):
            lay.incoming.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / name, lay.incoming / f"{sha}.part")
    done = store(lay, m["wheels"])
    if not done["ok"]:
        raise Refused(done["error"])
    return m


def deps_key(m: dict[str, Any]) -> str:
    deps = sorted(f"{n}={s}" for n, s in m["wheels"].items() if n != m["app"])
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return hashlib.sha256("\n".join([tag, *deps]).encode()).hexdigest()[:16]


def _wheel_path(lay: Layout, m: dict[str, Any], name: str) -> Path:
    path: Path = lay.wheels / m["wheels"][name] / name
    if not path.is_file():
        raise Refused(f"wheel {name} is not on the box: upload it first")
    return path


def _pip(lay: Layout, m: dict[str, Any], python: str, *args: str) -> None:
    pip = next(n for n in m["wheels"] if n.startswith("pip-"))
    cmd = [python, f"{_wheel_path(lay, m, pip)}/pip", "install", "--no-index", "--no-deps"]
    done = run([*cmd, "--root-user-action=ignore", "--disable-pip-version-check", *args])
    if done.returncode != 0:
        raise Refused(f"pip failed: {done.stderr.strip()[-600:]}")


def install(lay: Layout, m: dict[str, Any]) -> dict[str, Any]:
    """Make release `version` (idempotent: a complete release with this manifest is kept)."""
    check_manifest(m)
    version, sha = m["version"], manifest_sha(m)
    release = lay.releases / version
    if (release / COMPLETE).is_file():
        if (release / COMPLETE).read_text().strip() == sha:
            return {"ok": True, "version": version, "changed": False}
        if lay.current_version() == version:
            raise Refused(
                f"release {version} runs now and was built from other wheels; "
                "give the new build a new version"
            )
    layer = lay.deps / deps_key(m)
    if not (layer / COMPLETE).is_file():
        shutil.rmtree(layer, ignore_errors=True)
        deps = [str(_wheel_path(lay, m, n)) for n in sorted(m["wheels"]) if n != m["app"]]
        _pip(lay, m, sys.executable, "--target", str(layer), *deps)
        write_atomic(layer / COMPLETE, b"ok\n")
    # Built in place (scripts name their interpreter by path); `.complete` is written last,
    # so a release cut short by a power loss is made again from scratch.
    shutil.rmtree(release, ignore_errors=True)
    made = run([sys.executable, "-m", "venv", "--without-pip", str(release)])
    if made.returncode != 0:
        raise Refused(f"python3 -m venv failed: {made.stderr.strip()[-400:]}")
    site = next((release / "lib").glob("python3*/site-packages"))
    (site / "edge-deps.pth").write_text(f"import site; site.addsitedir({str(layer)!r})\n")
    _pip(lay, m, str(release / "bin/python"), str(_wheel_path(lay, m, m["app"])))
    write_atomic(release / MANIFEST, json.dumps(m, sort_keys=True, indent=1).encode())
    (release / "deps").symlink_to(layer)
    write_atomic(release / COMPLETE, f"{sha}\n".encode())
    return {"ok": True, "version": version, "changed": True}


def manifest_of(lay: Layout, version: str) -> dict[str, Any]:
    release = lay.releases / version
    if not (release / COMPLETE).is_file():
        raise Refused(f"release {version} is not installed on this box")
    loaded: dict[str, Any] = json.loads((release / MANIFEST).read_text())
    return loaded


def installed(lay: Layout) -> list[str]:
    if not lay.releases.is_dir():
        return []
    done = [p for p in lay.releases.iterdir() if (p / COMPLETE).is_file()]
    return [p.name for p in sorted(done, key=lambda p: p.stat().st_mtime)]


def gc(lay: Layout, keep: int = KEEP_RELEASES) -> dict[str, Any]:
    """Keep the running and previous releases and the newest others up to `keep`; drop the
    dependency layers, wheels and unfinished uploads nothing kept refers to."""
    pinned = {v for v in (lay.current_version(), lay.previous_version()) if v}
    others = [v for v in reversed(installed(lay)) if v not in pinned]
    kept = pinned | set(others[: max(0, keep - len(pinned))])
    removed = []
    if lay.releases.is_dir():
        for release in lay.releases.iterdir():
            if release.name not in kept:
                shutil.rmtree(release)
                removed.append(release.name)
    manifests = [manifest_of(lay, v) for v in kept]
    layers = {deps_key(m) for m in manifests}
    shas = {s for m in manifests for s in m["wheels"].values()}
    for folder, live in ((lay.deps, layers), (lay.wheels, shas)):
        if folder.is_dir():
            for item in folder.iterdir():
                if item.name not in live:
                    shutil.rmtree(item)
    return {"ok": True, "removed": sorted(removed), "kept": sorted(kept)}
