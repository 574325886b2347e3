#!/usr/bin/env python3
"""Debian packages of the image, and of the tools that build it: locked, fetched, checked.

    debs.py lock ARCH          resolve image/packages/* into image/lock/debian-ARCH.lock
    debs.py lock-tools         image/lock/tools-HOSTARCH.lock: the image tools the build runs
    debs.py fetch ARCH CACHE   check the lock against the mirror; put every .deb in CACHE
    debs.py tools CACHE        the locked tools unpacked under CACHE; prints where
    debs.py pins ARCH          apt preferences holding every package at its locked version
    debs.py check ARCH ROOT    the packages installed in ROOT are exactly the lock

Indices come through apt from the suites of image/sources.list, which only Debian's archive
key may sign (`signed-by`): an index that does not verify stops the run. The lock keeps each
package's version and the sha256 of its .deb as the signed index gave it, so a .deb in the
cache counts only if its bytes match the lock. Standard library only: runs with the build
machine's python3 and apt-get.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "sources.list"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
ARCHES = ("amd64", "arm64")
# The build machine runs these instead of its own: mke2fs 1.47.1 and newer honours
# SOURCE_DATE_EPOCH and reads a tarball, which is what makes the file systems reproducible
# (bookworm's 1.47.0 copies each file's change time, i.e. the time of the build).
TOOLS = {"e2fsprogs": "bookworm-backports", "libext2fs2": "bookworm-backports"}
BACKPORTS = (
    "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    "http://deb.debian.org/debian bookworm-backports main\n"
)


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


@dataclass(frozen=True)
class Locked:
    """One lock file: what it is made from, and where it lives."""

    name: str  # debian-arm64, tools-amd64
    arch: str
    inputs: tuple[Path, ...]
    sources: str

    @property
    def path(self) -> Path:
        return HERE / "lock" / f"{self.name}.lock"

    def digest(self) -> str:
        h = hashlib.sha256(self.sources.encode() + b"\0")
        for path in self.inputs:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        if self.name.startswith("tools-"):
            h.update(repr(sorted(TOOLS.items())).encode())
        return h.hexdigest()


def image_set(arch: str) -> Locked:
    lists = (HERE / "packages" / "common.txt", HERE / "packages" / f"{arch}.txt")
    return Locked(f"debian-{arch}", arch, lists, SOURCES.read_text())


def tools_set() -> Locked:
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Locked(f"tools-{arch}", arch, (), SOURCES.read_text() + BACKPORTS)


def wanted(locked: Locked) -> list[str]:
    """The packages asked for by name (their dependencies come with them)."""
    names: list[str] = []
    for path in locked.inputs:
        for raw in path.read_text().splitlines():
            line = raw.split("#", 1)[0].strip()
            if line:
                names.append(line)
    return names


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- apt in a scratch directory ------------------------------------------------------------


class Apt:
    """apt-get and apt-cache for one architecture in a private directory: the build
    machine's own apt configuration, keys and installed packages play no part."""

    def __init__(self, locked: Locked, workdir: Path, status: str = "") -> None:
        self.dir = workdir
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
        (workdir / "etc/apt/sources.list").write_text(locked.sources)
        self.config = workdir / "apt.conf"
        self.config.write_text(
            "\n".join(
                [
                    f'Dir "{workdir}/";',
                    f'Dir::State::status "{workdir}/var/lib/dpkg/status";',
                    f'Dir::Etc::Parts "{workdir}/etc/apt/apt.conf.d";',
                    f'APT::Architecture "{locked.arch}";',
                    f'APT::Architectures {{ "{locked.arch}"; }};',
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

    def run(self, *argv: str) -> str:
        env = {**os.environ, "APT_CONFIG": str(self.config), "LC_ALL": "C.UTF-8"}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=self.dir)
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
            found += parse_stanzas(lists.read_text())
        return found

    def simulate(self, *argv: str) -> list[tuple[str, str, str]]:
        """(name, version, arch) of each package apt would install."""
        out = self.run("apt-get", "--simulate", "--yes", *argv)
        # "Inst libc6 (2.36-9+deb12u9 Debian:12.9/stable [arm64])"
        pattern = re.compile(r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*\[(\S+)\]\)", re.M)
        return pattern.findall(out)


def parse_stanzas(text: str) -> list[dict[str, str]]:
    found = []
    for block in text.split("\n\n"):
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


def deb_of(s: dict[str, str]) -> Deb:
    return Deb(
        s["Package"], s["Version"], s["Architecture"], s["SHA256"], int(s["Size"]), s["Filename"]
    )


def index_of(apt: Apt) -> dict[tuple[str, str], Deb]:
    return {(d.name, d.version): d for d in map(deb_of, apt.stanzas())}


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


def write_lock(locked: Locked, debs: list[Deb], what: str) -> None:
    header = [
        f"# {what}: written by `make image-lock`, do not edit.",
        "# The build takes exactly these, checks each .deb against its sha256, and stops if one",
        "# is no longer on the mirror.",
        f"# inputs {locked.digest()}",
        "# package version architecture sha256 size pool-path",
    ]
    locked.path.write_text("\n".join(header + [d.line() for d in sorted(debs)]) + "\n")
    print(f"{locked.path.relative_to(HERE.parent)}: {len(debs)} packages")


def read_lock(locked: Locked) -> list[Deb]:
    if not locked.path.is_file():
        raise LockError(f"{locked.path.name} is missing: run `make image-lock`")
    debs, inputs = [], None
    for raw in locked.path.read_text().splitlines():
        if raw.startswith("# inputs "):
            inputs = raw.split()[2]
        if not raw.strip() or raw.startswith("#"):
            continue
        name, version, deb_arch, sha, size, pool = raw.split()
        debs.append(Deb(name, version, deb_arch, sha, int(size), pool))
    if inputs != locked.digest():
        raise LockError(
            f"image/sources.list or image/packages/ changed since {locked.path.name} was "
            "written: run `make image-lock`"
        )
    return debs


# --- commands ------------------------------------------------------------------------------


def lock(arch: str) -> None:
    """Resolve the package set the way mmdebstrap's `apt` variant installs it: first an
    upgrade of an empty system (Debian's essential set plus apt), then the wanted packages
    on top of that."""
    locked = image_set(arch)
    with tempfile.TemporaryDirectory(prefix="edge-lock-") as tmp:
        apt = Apt(locked, Path(tmp) / "apt")
        apt.update()
        essential = apt.simulate("dist-upgrade")
        then = Apt(locked, Path(tmp) / "apt", status=status_of(apt, essential))
        rest = then.simulate("install", *wanted(locked))
        index = index_of(apt)
        debs = [index[(name, version)] for name, version, _ in essential + rest]
    write_lock(locked, debs, f"Debian packages of the box's image for {arch}")


def lock_tools() -> None:
    locked = tools_set()
    with tempfile.TemporaryDirectory(prefix="edge-lock-") as tmp:
        apt = Apt(locked, Path(tmp) / "apt")
        apt.update()
        shown = apt.run("apt-cache", "show", *(f"{n}/{suite}" for n, suite in TOOLS.items()))
        debs = [deb_of(s) for s in parse_stanzas(shown)]
    write_lock(locked, debs, "Tools the image build runs on the build machine")


@contextmanager
def locked_folder(folder: Path) -> Iterator[None]:
    """One build at a time fills a cache folder (builds of two architectures may run at once)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def fetch(locked: Locked, cache: Path) -> list[Deb]:
    """Check every locked version against today's signed indices, then make sure CACHE holds
    each .deb with the locked sha256 (downloading what is missing through apt)."""
    with locked_folder(cache):
        return _fetch(locked, cache)


def _fetch(locked: Locked, cache: Path) -> list[Deb]:
    debs = read_lock(locked)
    cache.mkdir(parents=True, exist_ok=True)
    missing = [d for d in debs if not _good(cache / d.filename, d)]
    with tempfile.TemporaryDirectory(prefix="edge-fetch-") as tmp:
        apt = Apt(locked, Path(tmp) / "apt")
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
        if missing:
            print(f"downloading {len(missing)} of {len(debs)} packages", file=sys.stderr)
            apt.run("apt-get", "download", *(f"{d.name}={d.version}" for d in missing))
            for d in missing:
                shutil.move(Path(tmp) / "apt" / d.filename, cache / d.filename)
        bad = [d.filename for d in missing if not _good(cache / d.filename, d)]
        if bad:
            raise LockError(f"downloaded packages do not match the lock: {', '.join(bad)}")
    print(f"{len(debs)} packages of {locked.name} verified in {cache}", file=sys.stderr)
    return debs


def _good(path: Path, deb: Deb) -> bool:
    if not path.is_file() or path.stat().st_size != deb.size:
        return False
    if sha256_of(path) == deb.sha256:
        return True
    path.unlink()  # a damaged or foreign file: fetched again
    return False


def tools(cache: Path) -> Path:
    """The locked tools unpacked (dpkg -x) into a folder of the cache; run from there."""
    locked = tools_set()
    folder = cache / f"{locked.name}-{sha256_of(locked.path)[:16]}"
    root = folder / "root"
    with locked_folder(folder):
        if not (folder / "unpacked").is_file():
            debs = _fetch(locked, folder / "debs")
            shutil.rmtree(root, ignore_errors=True)
            for d in debs:
                deb = str(folder / "debs" / d.filename)
                subprocess.run(["dpkg-deb", "-x", deb, str(root)], check=True)
            (folder / "unpacked").touch()
    return root


def pins(arch: str) -> None:
    """apt preferences for the build only: each package at its locked version."""
    for d in read_lock(image_set(arch)):
        print(f"Package: {d.name}\nPin: version {d.version}\nPin-Priority: 1001\n")


def check(arch: str, root: Path) -> None:
    """Fail unless ROOT's dpkg database lists exactly the locked packages and versions."""
    locked = {(d.name, d.version) for d in read_lock(image_set(arch))}
    query = "${db:Status-Abbrev} ${Package} ${Version}\n"
    out = subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", f"-f={query}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installed = set()
    for line in out.splitlines():
        state, name, version = line.split()
        if state != "ii":
            raise LockError(f"{name} {version} is not fully installed (dpkg state {state})")
        installed.add((name, version))
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
    sub.add_parser("lock-tools")
    f = sub.add_parser("fetch")
    f.add_argument("arch", choices=ARCHES)
    f.add_argument("cache", type=Path)
    t = sub.add_parser("tools")
    t.add_argument("cache", type=Path)
    c = sub.add_parser("check")
    c.add_argument("arch", choices=ARCHES)
    c.add_argument("root", type=Path)
    args = p.parse_args(argv)
    try:
        if args.command == "lock":
            lock(args.arch)
        elif args.command == "lock-tools":
            lock_tools()
        elif args.command == "fetch":
            fetch(image_set(args.arch), args.cache)
        elif args.command == "tools":
            print(tools(args.cache))
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
