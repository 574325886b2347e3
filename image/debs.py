#!/usr/bin/env python3
"""The image's Debian packages: lock them, fetch them, check an installed tree against the lock.

    debs.py lock ARCH          resolve image/packages/* and write image/lock/debian-ARCH.lock
    debs.py fetch ARCH CACHE   check the lock against the mirror and put every .deb in CACHE
    debs.py pins ARCH          apt preferences that hold every package at its locked version
    debs.py check ARCH ROOT    the packages installed in ROOT are exactly the lock

Indices come through apt from the suites of image/sources.list, which only Debian's archive
key may sign (`signed-by`); any index that does not verify stops the run. The lock keeps
each package's version and the sha256 of its .deb as the signed index gave it, so a .deb in
the cache counts only if its bytes match the lock. Standard library only; runs with the
build machine's python3 and apt-get.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources.list"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
ARCHES = ("amd64", "arm64")


class LockError(Exception):
    """Something the person building the image must act on; the message says what."""


@dataclass(frozen=True, order=True)
class Deb:
    name: str
    version: str
    arch: str
    sha256: str
    size: int
    path: str  # in the archive's pool

    @property
    def filename(self) -> str:
        # apt's own name for it in /var/cache/apt/archives (an epoch's ':' becomes '%3a').
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"

    def line(self) -> str:
        return f"{self.name} {self.version} {self.arch} {self.sha256} {self.size} {self.path}"


def lock_path(arch: str) -> Path:
    return HERE / "lock" / f"debian-{arch}.lock"


def package_lists(arch: str) -> list[Path]:
    return [HERE / "packages" / "common.txt", HERE / "packages" / f"{arch}.txt"]


def wanted(arch: str) -> list[str]:
    """The packages asked for by name (their dependencies come with them)."""
    names: list[str] = []
    for path in package_lists(arch):
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def inputs_digest(arch: str) -> str:
    """What the lock was made from: the sources and the package lists."""
    h = hashlib.sha256()
    for path in [SOURCES, *package_lists(arch)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- apt in a scratch directory ------------------------------------------------------------


class Apt:
    """apt-get and apt-cache for ARCH in a private directory: the build machine's own apt
    configuration, keys and package state play no part."""

    def __init__(self, arch: str, workdir: Path, status: str = "") -> None:
        self.arch, self.dir = arch, workdir
        for sub in (
            "etc/apt/apt.conf.d",
            "etc/apt/preferences.d",
            "etc/apt/sources.list.d",
            "etc/apt/trusted.gpg.d",
            "var/lib/apt/lists/partial",
            "var/cache/apt/archives/partial",
            "var/lib/dpkg",
        ):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        (workdir / "var/lib/dpkg/status").write_text(status)
        (workdir / "etc/apt/sources.list").write_text(SOURCES.read_text())
        self.config = workdir / "apt.conf"
        self.config.write_text(
            "\n".join(
                [
                    f'Dir "{workdir}/";',
                    f'Dir::State::status "{workdir}/var/lib/dpkg/status";',
                    f'Dir::Etc::Parts "{workdir}/etc/apt/apt.conf.d";',
                    f'APT::Architecture "{arch}";',
                    f'APT::Architectures {{ "{arch}"; }};',
                    'APT::Install-Recommends "false";',
                    'Acquire::Languages "none";',
                    # Never accept an index without a good signature, whatever apt's defaults.
                    'Acquire::AllowInsecureRepositories "false";',
                    'Acquire::AllowDowngradeToInsecureRepositories "false";',
                    'Acquire::AllowWeakRepositories "false";',
                    'APT::Sandbox::User "root";',
                    "",
                ]
            )
        )

    def run(self, *argv: str, capture: bool = True) -> str:
        env = {**os.environ, "APT_CONFIG": str(self.config), "LC_ALL": "C.UTF-8"}
        done = subprocess.run(argv, env=env, capture_output=capture, text=True, cwd=self.dir)
        if done.returncode != 0:
            out = (done.stdout or "") + (done.stderr or "")
            raise LockError(f"{' '.join(argv[:3])} failed:\n{out.strip()}")
        return done.stdout or ""

    def update(self) -> None:
        """Fetch the indices; fails unless every one is signed by Debian's archive key."""
        if not KEYRING.is_file():
            raise LockError(f"{KEYRING} is missing (Debian package debian-archive-keyring)")
        out = self.run("apt-get", "update", "-o", "APT::Update::Error-Mode=any")
        # Belt and braces: apt must not have carried on past a signature problem.
        for bad in ("NO_PUBKEY", "not signed", "EXPKEYSIG", "BADSIG", "GPG error"):
            if bad in out:
                raise LockError(f"apt could not verify the archive's signature:\n{out}")

    def stanzas(self) -> list[dict[str, str]]:
        """Every package stanza of the signed indices."""
        found = []
        for lists in sorted((self.dir / "var/lib/apt/lists").glob("*_Packages")):
            for block in lists.read_text().split("\n\n"):
                fields: dict[str, str] = {}
                key = ""
                for line in block.splitlines():
                    if line.startswith((" ", "\t")):
                        fields[key] += "\n" + line
                    elif ":" in line:
                        key, _, value = line.partition(":")
                        fields[key] = value.strip()
                if "Package" in fields:
                    found.append(fields)
        return found

    def simulate(self, *argv: str) -> list[tuple[str, str, str]]:
        """(name, version, arch) of each package apt would install."""
        out = self.run("apt-get", "--simulate", "--yes", *argv)
        # "Inst libc6 (2.36-9+deb12u9 Debian:12.9/stable [arm64])"
        pattern = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)", re.M)
        return pattern.findall(out)


def index_of(apt: Apt) -> dict[tuple[str, str], Deb]:
    debs: dict[tuple[str, str], Deb] = {}
    for s in apt.stanzas():
        deb = Deb(
            s["Package"],
            s["Version"],
            s["Architecture"],
            s["SHA256"],
            int(s["Size"]),
            s["Filename"],
        )
        debs[(deb.name, deb.version)] = deb
    return debs


def status_of(apt: Apt, installed: list[tuple[str, str, str]]) -> str:
    """A dpkg status file saying these packages are installed, from their index stanzas."""
    keep = {(n, v) for n, v, _ in installed}
    out = []
    for s in apt.stanzas():
        if (s["Package"], s["Version"]) in keep:
            keep.discard((s["Package"], s["Version"]))
            lines = [f"Package: {s['Package']}", "Status: install ok installed"]
            lines += [f"{k}: {v}" for k, v in s.items() if k not in ("Package", "Status")]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


# --- the lock file -------------------------------------------------------------------------


def write_lock(arch: str, debs: list[Deb]) -> None:
    header = [
        f"# Debian packages of the box's image for {arch}: written by `make image-lock`, do not",
        "# edit. The build installs exactly these, checks each .deb against its sha256, and",
        "# stops if one is no longer on the mirror.",
        f"# inputs {inputs_digest(arch)}",
        "# package version architecture sha256 size pool-path",
    ]
    lock_path(arch).write_text("\n".join(header + [d.line() for d in sorted(debs)]) + "\n")


def read_lock(arch: str) -> list[Deb]:
    path = lock_path(arch)
    if not path.is_file():
        raise LockError(f"{path.name} is missing: run `make image-lock`")
    debs, inputs = [], None
    for raw in path.read_text().splitlines():
        if raw.startswith("# inputs "):
            inputs = raw.split()[2]
        if not raw.strip() or raw.startswith("#"):
            continue
        name, version, deb_arch, sha, size, pool = raw.split()
        debs.append(Deb(name, version, deb_arch, sha, int(size), pool))
    if inputs != inputs_digest(arch):
        raise LockError(
            f"image/sources.list or image/packages/ changed since {path.name} was written: "
            "run `make image-lock`"
        )
    return debs


# --- commands ------------------------------------------------------------------------------


def lock(arch: str) -> None:
    """Resolve the package set the way mmdebstrap's `apt` variant installs it: first an
    upgrade of an empty system (Debian's essential set plus apt), then the wanted packages
    on top of that."""
    with tempfile.TemporaryDirectory(prefix="edge-lock-") as tmp:
        apt = Apt(arch, Path(tmp) / "apt")
        apt.update()
        essential = apt.simulate("dist-upgrade")
        apt2 = Apt(arch, Path(tmp) / "apt", status=status_of(apt, essential))
        rest = apt2.simulate("install", *wanted(arch))
        index = index_of(apt)
        debs = [index[(name, version)] for name, version, _ in essential + rest]
    write_lock(arch, debs)
    print(f"{lock_path(arch).relative_to(HERE.parent)}: {len(debs)} packages")


def fetch(arch: str, cache: Path) -> None:
    """Check every locked version against today's signed indices, then make sure CACHE holds
    each .deb with the locked sha256 (downloading what is missing through apt)."""
    debs = read_lock(arch)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edge-fetch-") as tmp:
        apt = Apt(arch, Path(tmp) / "apt")
        apt.update()
        index = index_of(apt)
        gone = [d for d in debs if (d.name, d.version) not in index]
        if gone:
            names = ", ".join(f"{d.name} {d.version}" for d in gone)
            raise LockError(
                f"{len(gone)} locked package version(s) are no longer on the mirror: {names}. "
                "Run `make image-lock` to move to today's versions (and review the change)."
            )
        changed = [d for d in debs if index[(d.name, d.version)].sha256 != d.sha256]
        if changed:
            names = ", ".join(f"{d.name} {d.version}" for d in changed)
            raise LockError(f"the mirror's sha256 differs from the lock for: {names}")
        missing = [d for d in debs if not _good(cache / d.filename, d)]
        if missing:
            print(f"downloading {len(missing)} of {len(debs)} packages", file=sys.stderr)
            apt.run("apt-get", "download", *(f"{d.name}={d.version}" for d in missing))
            for d in missing:
                shutil.move(Path(tmp) / "apt" / d.filename, cache / d.filename)
        bad = [d.filename for d in debs if not _good(cache / d.filename, d)]
        if bad:
            raise LockError(f"downloaded packages do not match the lock: {', '.join(bad)}")
    print(f"{len(debs)} packages for {arch} verified in {cache}", file=sys.stderr)


def _good(path: Path, deb: Deb) -> bool:
    if not path.is_file() or path.stat().st_size != deb.size:
        return False
    if sha256_of(path) == deb.sha256:
        return True
    path.unlink()  # a damaged or foreign file: fetched again
    return False


def pins(arch: str) -> None:
    """apt preferences for the build only: each package at its locked version, nothing else."""
    for d in read_lock(arch):
        print(f"Package: {d.name}\nPin: version {d.version}\nPin-Priority: 1001\n")


def check(arch: str, root: Path) -> None:
    """Fail unless ROOT's dpkg database lists exactly the locked packages and versions."""
    locked = {(d.name, d.version) for d in read_lock(arch)}
    out = subprocess.run(
        [
            "dpkg-query",
            f"--admindir={root}/var/lib/dpkg",
            "-W",
            "-f=${db:Status-Abbrev} ${Package} ${Version}\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = set()
    for line in out.splitlines():
        state, name, version = line.split()
        if state == "ii":
            installed.add((name, version))
        else:
            raise LockError(f"{name} {version} is not fully installed (dpkg state {state})")
    extra, absent = sorted(installed - locked), sorted(locked - installed)
    if extra or absent:
        raise LockError(
            "the image's packages differ from the lock: "
            f"not locked {extra or 'none'}; locked but not installed {absent or 'none'}"
        )
    print(f"{len(installed)} packages installed, exactly as locked", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("lock", "pins"):
        sub.add_parser(name).add_argument("arch", choices=ARCHES)
    f = sub.add_parser("fetch")
    f.add_argument("arch", choices=ARCHES)
    f.add_argument("cache", type=Path)
    c = sub.add_parser("check")
    c.add_argument("arch", choices=ARCHES)
    c.add_argument("root", type=Path)
    args = p.parse_args(argv)
    try:
        if args.command == "lock":
            lock(args.arch)
        elif args.command == "fetch":
            fetch(args.arch, args.cache)
        elif args.command == "pins":
            pins(args.arch)
        else:
            check(args.arch, args.root)
    except LockError as exc:
        print(f"debs.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
