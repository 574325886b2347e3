"""An office LAN in network namespaces: the officer's laptop on a bridge, each box in a
namespace of its own joined to it by a veth pair; nftables in each box's namespace counts
the bytes that reach the box's sshd and makes its link lossy, slow or cut (tc netem is not
available on these machines)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

NET = "10.252.0"


def require_tools() -> None:
    """Root, iproute2, nftables and OpenSSH's sshd: skipped on a developer's machine
    without them, failed in CI (where make test installs them)."""
    missing = [t for t in ("ip", "nft", "ssh-keygen") if shutil.which(t) is None]
    if not os.path.exists("/usr/sbin/sshd"):
        missing.append("sshd (openssh-server)")
    if os.geteuid() != 0 or missing:
        why = f"needs root and {', '.join(missing) or 'nothing else'}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the fleet tests {why}")
        pytest.skip(why)


def sh(*args: str, input: str | None = None) -> str:
    done = subprocess.run(args, input=input, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


class Lan:
    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.laptop = f"efl{tag}-lap"
        self.boxes: list[str] = []
        sh("ip", "netns", "add", self.laptop)
        self.ip(self.laptop, "link", "set", "lo", "up")
        self.ip(self.laptop, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
        self.ip(self.laptop, "addr", "add", f"{NET}.1/24", "dev", "br0")
        self.ip(self.laptop, "link", "set", "br0", "up")
        self.ip(self.laptop, "route", "add", "224.0.0.0/4", "dev", "br0")

    @staticmethod
    def ip(ns: str, *args: str) -> None:
        sh("ip", "-n", ns, *args)

    def add_box(self, index: int) -> tuple[str, str]:
        """A namespace for box `index`; (namespace, its address on the LAN)."""
        ns, address = f"efl{self.tag}-b{index}", f"{NET}.{10 + index}"
        sh("ip", "netns", "add", ns)
        self.boxes.append(ns)
        sh("ip", "link", "add", "vb", "netns", ns, "type", "veth",
           "peer", "name", f"vl{index}", "netns", self.laptop)  # fmt: skip
        self.ip(ns, "addr", "add", f"{address}/24", "dev", "vb")
        for dev in ("vb", "lo"):
            self.ip(ns, "link", "set", dev, "up")
        self.ip(ns, "route", "add", "224.0.0.0/4", "dev", "vb")
        self.ip(self.laptop, "link", "set", f"vl{index}", "master", "br0", "up")
        self.nft(ns, """
            add table inet fleet
            add counter inet fleet rx
            add chain inet fleet in { type filter hook input priority 0; }
            add chain inet fleet out { type filter hook output priority 0; }
            add chain inet fleet fault_in
            add chain inet fleet fault_out
            add rule inet fleet in iifname "vb" jump fault_in
            add rule inet fleet in iifname "vb" tcp dport 22 counter name rx
            add rule inet fleet out oifname "vb" jump fault_out
        """)  # fmt: skip
        return ns, address

    @staticmethod
    def nft(ns: str, script: str) -> None:
        sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=script)

    def fault(self, ns: str, rule: str) -> None:
        """Both directions of the box's link: e.g. `drop`, `numgen random mod 100 < 20 drop`."""
        self.nft(ns, f"add rule inet fleet fault_in {rule}\nadd rule inet fleet fault_out {rule}")

    def lossy(self, ns: str, percent: int) -> None:
        self.fault(ns, f"numgen random mod 100 < {percent} drop")

    def cut(self, ns: str) -> None:
        self.fault(ns, "drop")

    def slow(self, ns: str, kbytes_per_second: int) -> None:
        """Only what reaches the box: uploads crawl, answers still come back."""
        rule = f"limit rate over {kbytes_per_second} kbytes/second burst 64 kbytes drop"
        self.nft(ns, f"add rule inet fleet fault_in {rule}")

    def heal(self, ns: str) -> None:
        self.nft(ns, "flush chain inet fleet fault_in\nflush chain inet fleet fault_out")

    def received(self, ns: str) -> int:
        """Bytes that reached the box's sshd over the LAN so far (IP packets: SSH, TCP and IP
        headers included; the LAN's multicast chatter is not counted)."""
        out = sh("ip", "netns", "exec", ns, "nft", "-j", "list", "counter", "inet", "fleet", "rx")
        for item in json.loads(out)["nftables"]:
            if "counter" in item:
                return int(item["counter"]["bytes"])
        return 0

    def close(self) -> None:
        for ns in [*self.boxes, self.laptop]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def exec(self, ns: str, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]
