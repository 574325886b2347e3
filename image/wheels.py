#!/usr/bin/env python3
"""The box's Python release: lock its dependencies, and make the wheelhouse the image installs.

    wheels.py lock ARCH                  write image/lock/python-ARCH.txt (and python-build.txt)
    wheels.py wheelhouse ARCH CACHE OUT  OUT gets the project's wheel and every locked wheel

The box has Debian's Python 3.11 and no compiler, so every dependency must come as a wheel for
CPython 3.11 on the box's architecture and glibc (2.36 in bookworm). The lock pins each one by
version and sha256 and pip refuses anything else (`--require-hashes`). The project's own wheel
is built from this checkout with a locked setuptools and SOURCE_DATE_EPOCH, so it is the same
bytes every time. Run with the project's venv python (its pip).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}
GLIBC = 36  # Debian bookworm's glibc 2.36: wheels for manylinux_2_17 up to 2_36 run on it
PYTHON = "3.11"


class WheelError(Exception):
    """Something the person building the image must act on; the message says what."""


def lock_path(arch: str) -> Path:
    return HERE / "lock" / f"python-{arch}.txt"


BUILD_LOCK = HERE / "lock" / "python-build.txt"


def project() -> dict[str, list[str]]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    # pip comes along as a wheel: edge-release installs with it (the box needs no pip).
    run = [*data["project"]["dependencies"], "pip"]
    return {"run": run, "build": data["build-system"]["requires"]}


def inputs_digest(what: str) -> str:
    return hashlib.sha256("\n".join(sorted(project()[what])).encode()).hexdigest()


def platform_args(arch: str) -> list[str]:
    machine = ARCHES[arch]
    args = ["--platform", f"manylinux2014_{machine}"]
    for minor in range(17, GLIBC + 1):
        args += ["--platform", f"manylinux_2_{minor}_{machine}"]
    return [
        *args,
        "--python-version",
        PYTHON,
        "--implementation",
        "cp",
        "--abi",
        "cp" + PYTHON.replace(".", ""),
        "--only-binary=:all:",
    ]


def pip(*argv: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *argv],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise WheelError(f"pip {argv[0]} failed:\n{done.stdout}{done.stderr}".strip())


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def name_version(wheel: Path) -> tuple[str, str]:
    name, version = wheel.name.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def write_lock(path: Path, what: str, files: list[Path], title: str) -> None:
    lines = [
        f"# {title}: written by `make image-lock`, do not edit.",
        f"# inputs {inputs_digest(what)}",
    ]
    for wheel in sorted(files, key=lambda w: name_version(w)[0]):
        name, version = name_version(wheel)
        lines.append(f"{name}=={version} --hash=sha256:{sha256_of(wheel)}")
    path.write_text("\n".join(lines) + "\n")


def read_lock(path: Path, what: str) -> Path:
    text = path.read_text() if path.is_file() else ""
    if f"# inputs {inputs_digest(what)}\n" not in text:
        raise WheelError(
            f"{path.name} is missing or older than pyproject.toml's {what} requirements: "
            "run `make image-lock`"
        )
    return path


def lock(arch: str) -> None:
    with tempfile.TemporaryDirectory(prefix="edge-wheels-") as tmp:
        pip("download", "-d", tmp, *platform_args(arch), *project()["run"])
        files = sorted(Path(tmp).glob("*"))
        sdists = [f.name for f in files if not f.name.endswith(".whl")]
        if sdists:
            raise WheelError(f"no {arch} wheel for: {', '.join(sdists)}")
        write_lock(lock_path(arch), "run", files, f"The box's Python packages for {arch}")
    with tempfile.TemporaryDirectory(prefix="edge-wheels-") as tmp:
        pip("download", "-d", tmp, "--only-binary=:all:", *project()["build"])
        files = sorted(Path(tmp).glob("*.whl"))
        write_lock(BUILD_LOCK, "build", files, "What builds the project's wheel for the image")
    print(f"{lock_path(arch).relative_to(REPO)} and {BUILD_LOCK.relative_to(REPO)} written")


def wheelhouse(arch: str, cache: Path, out: Path) -> None:
    """OUT: the locked wheels for ARCH (downloaded once into CACHE) and the project's wheel."""
    cache, out = cache.resolve(), out.resolve()
    cache.mkdir(parents=True, exist_ok=True)
    # One build at a time in the cache (builds of two architectures may run at once).
    with (cache / ".lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        _wheelhouse(arch, cache, out)


def _wheelhouse(arch: str, cache: Path, out: Path) -> None:
    locked = read_lock(lock_path(arch), "run")
    wheels = cache / f"wheels-{arch}"
    pip("download", "--require-hashes", "--no-deps", "-d", str(wheels), *platform_args(arch),
        "-r", str(locked))  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    wanted = {line.split()[0] for line in locked.read_text().splitlines() if "==" in line}
    for wheel in sorted(wheels.glob("*.whl")):
        name, version = name_version(wheel)
        if f"{name}=={version}" in wanted:
            wanted.discard(f"{name}=={version}")
            shutil.copy2(wheel, out / wheel.name)
    if wanted:
        raise WheelError(f"not downloaded: {', '.join(sorted(wanted))}")
    app = build_project_wheel(cache, out)
    write_manifest(out, app)


def write_manifest(out: Path, app: Path) -> None:
    """manifest.json, as `edge-release install --wheelhouse` reads it. The release is named
    after the project's version and its wheel's content, so two different builds never share
    a name on a box (edge-release refuses that) and the same build always has the same one."""
    version = f"{name_version(app)[1]}+{sha256_of(app)[:12]}"
    wheels = {w.name: sha256_of(w) for w in sorted(out.glob("*.whl"))}
    manifest = {"version": version, "app": app.name, "wheels": wheels, "units": {}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def build_project_wheel(cache: Path, out: Path) -> Path:
    """The project's wheel from the files git knows of (committed or not, never ignored ones),
    so build leftovers never slip in; built by the locked setuptools in its own venv."""
    builder = cache / f"builder-{sha256_of(read_lock(BUILD_LOCK, 'build'))[:16]}"
    if not (builder / "ok").exists():
        shutil.rmtree(builder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(builder)], check=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(builder / "bin" / "python"), "install",
             "-q", "--require-hashes", "--no-deps", "-r", str(BUILD_LOCK)],
            check=True,
        )  # fmt: skip
        (builder / "ok").touch()
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    with tempfile.TemporaryDirectory(prefix="edge-src-") as tmp:
        src = Path(tmp) / "src"
        for rel in sorted(filter(None, listed.split("\0"))):
            if (REPO / rel).is_file():
                (src / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(REPO / rel, src / rel)
        # The PEP 517 hook itself: no pip, no isolated environment fetched at build time.
        build = f"from setuptools import build_meta; build_meta.build_wheel({str(out)!r})"
        done = subprocess.run(
            [str(builder / "bin" / "python"), "-c", build],
            env={**os.environ, "PYTHONHASHSEED": "0"},
            cwd=src,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise WheelError(f"building the project's wheel failed:\n{done.stderr}")
    return next(out.glob("edge_box-*.whl"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("lock").add_argument("arch", choices=ARCHES)
    w = sub.add_parser("wheelhouse")
    w.add_argument("arch", choices=ARCHES)
    w.add_argument("cache", type=Path)
    w.add_argument("out", type=Path)
    args = p.parse_args(argv)
    try:
        if args.command == "lock":
            lock(args.arch)
        else:
            wheelhouse(args.arch, args.cache, args.out)
    except WheelError as exc:
        print(f"wheels.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
