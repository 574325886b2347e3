#!/usr/bin/env python3
"""What the image promises, checked on its root file system (the build's rootfs.tar).

    check_rootfs.py ARCH ROOTFS.tar     one line per check; exit 1 when any fails

No password anywhere, no key or identity baked in, the box's units enabled, the release laid
out as edge-release lays it out, packages exactly as locked, no swap but zram, and on arm64
the Pi's boot files. The build runs it; so do the image tests (tests/image/), on both
architectures. Standard library only.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
DISK_ID = "65646765"


@dataclass
class Tree:
    """A root file system read from its tar, without unpacking it."""

    arch: str
    tar: tarfile.TarFile
    members: dict[str, tarfile.TarInfo] = field(default_factory=dict)

    @classmethod
    def open(cls, arch: str, path: Path) -> Tree:
        tree = cls(arch, tarfile.open(path))  # noqa: SIM115 - closed by close()
        for m in tree.tar.getmembers():
            tree.members[m.name.removeprefix("./").rstrip("/")] = m
        return tree

    def close(self) -> None:
        self.tar.close()

    def has(self, name: str) -> bool:
        return name in self.members

    def read(self, name: str) -> bytes:
        m = self.members[name]
        while m.issym():  # relative links inside the tree, as /etc's are
            target = PurePosixPath(name).parent / m.linkname
            name = str(PurePosixPath(*_normalized(target.parts)))
            m = self.members[name]
        f = self.tar.extractfile(m)
        if f is None:
            raise FileNotFoundError(name)
        return f.read()

    def text(self, name: str) -> str:
        return self.read(name).decode()

    def glob(self, pattern: str) -> list[str]:
        rx = re.compile("^" + re.escape(pattern).replace(r"\*", "[^/]*") + "$")
        return sorted(n for n in self.members if rx.match(n))


def missing(t: Tree, folder: str, *names: str) -> list[str]:
    return [f"/{folder}/{n} is missing" for n in names if not t.has(f"{folder}/{n}")]


def _normalized(parts: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for p in parts:
        if p == "..":
            out.pop()
        elif p not in (".", ""):
            out.append(p)
    return out


Check = Callable[[Tree], list[str]]
CHECKS: list[Check] = []


def check(func: Check) -> Check:
    CHECKS.append(func)
    return func


def title(func: Check) -> str:
    """The check's docstring, first paragraph, on one line."""
    return " ".join((func.__doc__ or func.__name__).strip().split("\n\n")[0].split())


# --- no password, no secret ----------------------------------------------------------------


@check
def no_account_has_a_usable_password(t: Tree) -> list[str]:
    """No account has a usable password (root's is "*", the others "*" or locked)."""
    problems = []
    for line in t.text("etc/shadow").splitlines():
        user, password = line.split(":")[:2]
        if password == "":
            problems.append(f"{user} has an empty password: anyone could log in")
        elif not (password == "*" or password.startswith("!")):
            problems.append(f"{user} has a password hash")
    for line in t.text("etc/passwd").splitlines():
        user, password = line.split(":")[:2]
        if password != "x":
            problems.append(f"{user}'s /etc/passwd entry holds a password field {password!r}")
    for line in t.text("etc/gshadow").splitlines():
        group, password = line.split(":")[:2]
        if password not in ("", "*", "!") and not password.startswith("!"):
            problems.append(f"group {group} has a password")
    root = next(x for x in t.text("etc/shadow").splitlines() if x.startswith("root:"))
    if root.split(":")[1] not in ("*", "!", "!*"):
        problems.append("root's password field is not locked")
    return problems


@check
def no_host_key_or_identity_is_baked_in(t: Tree) -> list[str]:
    """No SSH host key, machine id, random seed or box data in the image."""
    problems = [f"{n} is in the image" for n in t.glob("etc/ssh/ssh_host_*")]
    if t.read("etc/machine-id") != b"":
        problems.append("/etc/machine-id is not empty (every box would share it)")
    for name in (
        "var/lib/systemd/random-seed",
        "var/lib/systemd/credential.secret",
        "var/lib/dbus/machine-id",
        "etc/edge/paired.json",
    ):
        if t.has(name) and not t.members[name].issym():
            problems.append(f"{name} is in the image")
    box_data = [n for n in t.members if n.startswith("var/lib/edge/")]
    if box_data:
        problems.append(f"box data in the image: {box_data[:5]}")
    return problems


@check
def ssh_takes_keys_only(t: Tree) -> list[str]:
    """sshd takes keys only: the fleet tool's drop-in, no password or keyboard logins."""
    conf = t.text("etc/ssh/sshd_config.d/edge.conf")
    wanted = ("PasswordAuthentication no", "KbdInteractiveAuthentication no",
              "PermitRootLogin prohibit-password", "AuthenticationMethods publickey")  # fmt: skip
    problems = [f"edge.conf lacks {w!r}" for w in wanted if w not in conf.splitlines()]
    if "Include /etc/ssh/sshd_config.d/*.conf" not in t.text("etc/ssh/sshd_config"):
        problems.append("sshd_config does not read sshd_config.d first")
    return problems


# --- units -------------------------------------------------------------------------------------

ENABLED = {
    "multi-user.target.wants": [
        "edge-web.service",
        "edge-worker.service",
        "edge-firstboot.service",
        "edge-grow-data.service",
        "edge-ssh-hostkeys.service",
        "edge-pair-open.service",
        "edge-pairing-issue.service",
        "ssh.service",
        "systemd-networkd.service",
        "unattended-upgrades.service",
    ],
    "sysinit.target.wants": ["systemd-timesyncd.service", "systemd-resolved.service"],
    "timers.target.wants": ["apt-daily.timer", "apt-daily-upgrade.timer"],
}


@check
def the_box_units_are_enabled(t: Tree) -> list[str]:
    """Both app units, the first-boot units, ssh, networkd, timesyncd, resolved and the
    security-update timers are enabled; Debian's first-boot wizard is masked."""
    problems = []
    for target, units in ENABLED.items():
        for unit in units:
            link = f"etc/systemd/system/{target}/{unit}"
            if not (t.has(link) and t.members[link].issym()):
                problems.append(f"{unit} is not enabled ({target})")
    firstboot = t.members.get("etc/systemd/system/systemd-firstboot.service")
    if not (firstboot and firstboot.issym() and firstboot.linkname == "/dev/null"):
        problems.append("systemd-firstboot.service (it asks for a root password) is not masked")
    for unit in ("edge-web.service", "edge-worker.service"):
        text = t.text(f"etc/systemd/system/{unit}")
        if "ExecStart=/opt/edge/current/bin/edge " not in text:
            problems.append(f"{unit} does not run the current release")
        if "RuntimeDirectory=edge" not in text or "RuntimeDirectoryPreserve=yes" not in text:
            # the unlocked data key lives there, in RAM, shared by both and kept across restarts
            problems.append(f"{unit} has no /run/edge kept across restarts (RuntimeDirectory)")
    return problems


# --- the release -------------------------------------------------------------------------------


@check
def the_release_is_installed_as_edge_release_installs_it(t: Tree) -> list[str]:
    """/opt/edge/current points at a complete release whose wheels are exactly the locked
    ones, and edge-release and edge-pair are installed."""
    current = t.members.get("opt/edge/current")
    if current is None or not current.issym():
        return ["/opt/edge/current is not a symlink"]
    release = f"opt/edge/{current.linkname}"
    problems = missing(
        t, release, ".complete", "bin/edge", "bin/python3", "edge-release.json", "deps"
    )
    if problems:
        return problems
    manifest = json.loads(t.read(f"{release}/edge-release.json"))
    locked = {}
    for line in locked_wheels(t.arch):
        name_version, digest = line.split(" --hash=sha256:")
        locked[digest] = name_version
    deps = {sha: n for n, sha in manifest["wheels"].items() if n != manifest["app"]}
    if set(deps) != set(locked):
        extra = sorted(deps[s] for s in set(deps) - set(locked))
        absent = sorted(locked[s] for s in set(locked) - set(deps))
        problems.append(f"release wheels differ from the lock: extra {extra}, missing {absent}")
    for program in ("usr/local/sbin/edge-release", "usr/local/sbin/edge-pair"):
        m = t.members.get(program)
        if m is None or m.mode & 0o777 != 0o755:
            problems.append(f"/{program} is missing or not 0755")
    return problems


def locked_wheels(arch: str) -> list[str]:
    text = (HERE / "lock" / f"python-{arch}.txt").read_text()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@check
def packages_are_exactly_the_locked_versions(t: Tree) -> list[str]:
    """The Debian packages installed are exactly the locked names and versions."""
    installed = set()
    for block in t.text("var/lib/dpkg/status").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != " "
        )
        if fields.get("Status") == "install ok installed":
            installed.add(f"{fields['Package']} {fields['Version']}")
    lock = (HERE / "lock" / f"debian-{t.arch}.lock").read_text().splitlines()
    locked = {" ".join(line.split()[:2]) for line in lock if line and not line.startswith("#")}
    problems = [f"installed but not locked: {p}" for p in sorted(installed - locked)]
    return problems + [f"locked but not installed: {p}" for p in sorted(locked - installed)]


# --- the system --------------------------------------------------------------------------------


@check
def swap_is_zram_only(t: Tree) -> list[str]:
    """Swap is compressed RAM (zram) only: no swap file or partition."""
    problems = []
    fstab = [line.split() for line in t.text("etc/fstab").splitlines() if line.strip()]
    if any(f[2] == "swap" for f in fstab if not f[0].startswith("#") and len(f) > 2):
        problems.append("/etc/fstab has a swap entry")
    problems += [f"{n} exists" for n in ("swapfile", "var/swap", "etc/dphys-swapfile") if t.has(n)]
    if "[zram0]" not in t.text("etc/systemd/zram-generator.conf"):
        problems.append("no zram device configured")
    if not t.has("usr/lib/systemd/system-generators/zram-generator"):
        problems.append("zram-generator is not installed")
    return problems


@check
def journald_is_capped(t: Tree) -> list[str]:
    """The journal is kept across reboots and capped in size."""
    conf = t.text("etc/systemd/journald.conf.d/edge-box.conf")
    return [f"journald lacks {w}" for w in ("SystemMaxUse=", "RuntimeMaxUse=") if w not in conf]


@check
def security_updates_are_unattended(t: Tree) -> list[str]:
    """Debian's security updates install themselves (unattended-upgrades, security only)."""
    problems = []
    periodic = t.text("etc/apt/apt.conf.d/20auto-upgrades")
    if 'APT::Periodic::Unattended-Upgrade "1";' not in periodic:
        problems.append("unattended upgrades are off")
    ours = t.text("etc/apt/apt.conf.d/52edge-box-unattended-upgrades")
    if "#clear Unattended-Upgrade::Origins-Pattern;" not in ours or "-security" not in ours:
        problems.append("the origins are not limited to Debian's security suite")
    sources = "".join(t.text(n) for n in t.glob("etc/apt/sources.list.d/*"))
    if "bookworm-security" not in sources or "signed-by=" not in sources:
        problems.append("apt has no signed bookworm-security source")
    if t.glob("etc/apt/preferences.d/*"):
        problems.append("apt pins left from the build would block updates")
    return problems


@check
def the_card_layout_matches_fstab(t: Tree) -> list[str]:
    """/etc/fstab mounts firmware and data by the image's fixed partition ids (the kernel
    mounts root, by the id on its command line)."""
    fstab = t.text("etc/fstab")
    wanted = {"/boot/firmware": "01", "/var/lib/edge": "03"}
    return [
        f"fstab does not mount PARTUUID={DISK_ID}-{n} on {mount}"
        for mount, n in wanted.items()
        if not re.search(rf"^PARTUUID={DISK_ID}-{n}\s+{re.escape(mount)}\s", fstab, re.M)
    ]


@check
def nothing_of_the_build_machine_is_left(t: Tree) -> list[str]:
    """Nothing of the build machine: its host name, resolver, staging files, and none of the
    build's own dpkg or apt settings (no fsync skipped on the box)."""
    problems = []
    if t.text("etc/hostname").strip() != "edge-box":
        problems.append(f"host name is {t.text('etc/hostname').strip()!r}")
    resolv = t.members.get("etc/resolv.conf")
    if resolv is None or resolv.linkname != "../run/systemd/resolve/stub-resolv.conf":
        problems.append("/etc/resolv.conf is not resolved's stub")
    problems += [f"{n} is left" for n in t.members if n.startswith("var/tmp/edge-image")]
    for name in t.glob("etc/dpkg/dpkg.cfg.d/*") + t.glob("etc/apt/apt.conf.d/*"):
        if "unsafe-io" in t.text(name) or name.endswith("99mmdebstrap"):
            problems.append(f"/{name}: the build's own dpkg or apt settings are left")
    return problems


# --- the Pi ------------------------------------------------------------------------------------


@check
def the_pi_boot_files_are_in_place(t: Tree) -> list[str]:
    """arm64: the Pi 4's firmware, kernel, initramfs (a short module list) and DTB, and a
    command line naming the root partition by its id; amd64: no kernel at all."""
    kernels = t.glob("boot/vmlinuz-*")
    if t.arch == "amd64":
        return [f"the amd64 twin has a kernel: {kernels}"] if kernels else []
    fw = "boot/firmware"
    problems = missing(t, fw, "start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb", "config.txt",
                       "cmdline.txt")  # fmt: skip
    if problems:
        return problems
    config = t.text(f"{fw}/config.txt")
    for key in ("kernel=", "initramfs "):
        named = re.search(rf"^{key}(\S+)", config, re.M)
        if not named or not t.has(f"{fw}/{named.group(1)}"):
            problems.append(f"config.txt's {key!r} names no file in /{fw}")
    if "arm_64bit=1" not in config:
        problems.append("config.txt does not start the CPU in 64-bit mode")
    cmdline = t.text(f"{fw}/cmdline.txt").split()
    for arg in (f"root=PARTUUID={DISK_ID}-02", "rootwait", "console=tty1"):
        if arg not in cmdline:
            problems.append(f"cmdline.txt lacks {arg}")
    initrds = t.glob(f"{fw}/initrd.img-*")
    if len(initrds) != 1:
        return [*problems, f"expected one initramfs, found {initrds}"]
    names = initramfs_files(t.read(initrds[0]))
    for module in ("sdhci-iproc.ko", "ext4.ko", "virtio_blk.ko", "usb-storage.ko"):
        if not any(n.endswith("/" + module) or n.endswith(f"/{module}.xz") for n in names):
            problems.append(f"the initramfs lacks {module}")
    modules = [n for n in names if ".ko" in n]
    if len(modules) > 200:
        problems.append(f"the initramfs has {len(modules)} modules: MODULES=most crept back in")
    return problems


def initramfs_files(data: bytes) -> list[str]:
    """Names in an initramfs: cpio (newc) archives, plain or compressed, one after another."""
    names: list[str] = []
    stream = io.BytesIO(data)
    while True:
        head = stream.read(6)
        stream.seek(-len(head), 1)
        if not head.strip(b"\0"):
            if not head:
                return names
            stream.read(4)  # padding between archives
            continue
        if head == b"070701":
            names += _cpio_names(stream)
            continue
        rest = stream.read()
        tool = {b"\x28\xb5\x2f\xfd": "zstd", b"\x1f\x8b": "gzip"}
        for magic, command in tool.items():
            if rest.startswith(magic):
                plain = subprocess.run([command, "-dc"], input=rest, capture_output=True).stdout
                return names + initramfs_files(plain)
        raise ValueError(f"unknown data in the initramfs: {head!r}")


def _cpio_names(stream: io.BytesIO) -> list[str]:
    names: list[str] = []
    while True:
        header = stream.read(110)
        size, name_size = int(header[54:62], 16), int(header[94:102], 16)
        name = stream.read(name_size)[:-1].decode()
        stream.read((4 - (110 + name_size) % 4) % 4)
        stream.read(size + (4 - size % 4) % 4)
        if name == "TRAILER!!!":
            return names
        names.append(name)


def run(arch: str, rootfs: Path) -> Iterator[tuple[str, list[str]]]:
    tree = Tree.open(arch, rootfs)
    try:
        for func in CHECKS:
            yield title(func), func(tree)
    finally:
        tree.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("arch", choices=("amd64", "arm64"))
    p.add_argument("rootfs", type=Path, help="the build's rootfs.tar")
    args = p.parse_args(argv)
    failed = 0
    for name, problems in run(args.arch, args.rootfs):
        print(("ok    " if not problems else "FAIL  ") + name)
        for problem in problems:
            print(f"        {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
