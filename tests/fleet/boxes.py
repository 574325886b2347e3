"""Test boxes: a folder that is the box's root file system (its /etc, /opt, /var/lib/edge)
and a network namespace in which a real OpenSSH sshd serves it, configured from the very
drop-in the image installs (its paths moved under the folder). First boot is played as the
image does it: host key made, on-box programs installed, `edge init`, pairing window open.

The folders live under /var/lib (not /tmp): sshd runs an AuthorizedKeysCommand only from a
path whose every directory is root-owned and writable by no one else."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from provisioning.onbox import bundle
from tests.fleet.net import Lan, sh
from tests.helpers import EDGE, ROOT

BASE = Path("/var/lib/edge-fleet-tests")
BOXCTL = Path(__file__).with_name("boxctl.py")


def box_folder(tag: str) -> Path:
    BASE.mkdir(mode=0o755, exist_ok=True)
    folder = BASE / tag
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o755)
    return folder


@dataclass
class TestBox:
    __test__ = False  # a box for tests, not a test class

    index: int
    ns: str
    address: str
    root: Path
    lan: Lan

    @property
    def home(self) -> Path:
        return self.root / "var/lib/edge"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "EDGE_ROOT": str(self.root)}

    def first_boot(self, office: str) -> None:
        """What the image's first boot does: host key, on-box programs, `edge init`."""
        for d in ("etc/ssh/sshd_config.d", "run", "usr/local/bin", "var/lib"):
            (self.root / d).mkdir(parents=True, exist_ok=True, mode=0o755)
        self.new_host_key()
        bundle.install(self.root)
        ctl = self.root / "usr/local/bin/boxctl"
        ctl.write_text(f'#!/bin/sh\nexec {sys.executable} {BOXCTL} "$@"\n')
        ctl.chmod(0o755)
        password = self.root / "admin-password"
        password.write_text("a long test password\n")
        subprocess.run(
            [*EDGE, "--home", str(self.home), "init", "--office-id", f"office-{self.index}",
             "--office-name", office, "--password-file", str(password)],
            check=True, capture_output=True, cwd=ROOT,
        )  # fmt: skip
        password.unlink()
        self.pairing("open", "--minutes", "60")

    def new_host_key(self) -> None:
        key = self.root / "etc/ssh/ssh_host_ed25519_key"
        for old in key.parent.glob("ssh_host_ed25519_key*"):
            old.unlink()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))

    def pairing(self, *args: str) -> dict[str, object]:
        program = self.root / "usr/local/sbin/edge-pair"
        out = subprocess.run([str(program), *args], capture_output=True, text=True, check=True)
        answer: dict[str, object] = json.loads(out.stdout)
        return answer

    def code(self) -> str:
        """The pairing code as the box shows it (`edge pairing`, as on its console)."""
        out = subprocess.run(
            [*EDGE, "pairing", "--json"], env=self.env, capture_output=True, text=True,
            check=True, cwd=ROOT,
        )  # fmt: skip
        return str(json.loads(out.stdout)["code"])

    def sshd_config(self) -> str:
        """The image's drop-in with its paths under this box's folder, plus what a test
        sshd needs (address, pid file, no PAM, the environment that places the box)."""
        dropin = (self.root / "etc/ssh/sshd_config.d/edge.conf").read_text()
        dropin = dropin.replace("AuthorizedKeysFile .ssh/authorized_keys ", "AuthorizedKeysFile ")
        for path in ("/usr/local/sbin/", "/etc/"):
            dropin = dropin.replace(f" {path}", f" {self.root}{path}")
        ctl = self.root / "usr/local/bin/boxctl"
        return dropin + "\n".join([
            "",
            f"ListenAddress {self.address}",
            f"PidFile {self.root}/run/sshd.pid",
            f"HostCertificate {self.root}/etc/ssh/ssh_host_ed25519_key-cert.pub",
            "UsePAM no",
            "Subsystem sftp internal-sftp",
            f"SetEnv EDGE_ROOT={self.root} EDGE_SYSTEMCTL={ctl}",
            "",
        ])  # fmt: skip

    def start_sshd(self) -> None:
        config = self.root / "sshd_config"
        config.write_text(self.sshd_config())
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        sh(*self.lan.exec(self.ns, "/usr/sbin/sshd", "-f", str(config),
                          "-E", str(self.root / "sshd.log")))  # fmt: skip
        deadline = time.monotonic() + 10
        while not (self.root / "run/sshd.pid").exists():
            assert time.monotonic() < deadline, (self.root / "sshd.log").read_text()
            time.sleep(0.05)

    def stop_sshd(self) -> None:
        _kill(self.root / "run/sshd.pid", self.root)

    def stop(self) -> None:
        """Everything this box runs (its units, by the stand-in's pid files, and sshd), at
        once: the test is over, nothing on the box needs a graceful stop."""
        for pid_file in [*(self.root / "run/boxctl").glob("*.pid"), self.root / "run/sshd.pid"]:
            _kill(pid_file, self.root, signal.SIGKILL)

    def release_state(self) -> dict[str, object]:
        program = self.root / "usr/local/sbin/edge-release"
        out = subprocess.run(
            self.lan.exec(self.ns, str(program), "status"), env=self.env,
            capture_output=True, text=True,
        )  # fmt: skip
        answer: dict[str, object] = json.loads(out.stdout)
        return answer


def _kill(pid_file: Path, root: Path, sig: int = signal.SIGTERM) -> None:
    """Stop a process this test started, by its pid, after checking it is still ours."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if str(root).encode() not in cmdline:
        return
    os.kill(pid, sig)
    deadline = time.monotonic() + 15
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
        except OSError:
            break
        time.sleep(0.05)
    else:
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
