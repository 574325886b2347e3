"""A thin, lossy WAN link between two network namespaces, emulated in userspace.

netem is not available here, so the link is a relay: two network namespaces (`box` and
`registry`), each holding one end of a veth pair with an address of 10.201.0.0/24; the other
ends stay in the root namespace, where this process reads every Ethernet frame from one
(an AF_PACKET socket) and writes it out of the other. The two hosts' own kernels run TCP:
retransmissions, congestion control and timeouts are real, only the wire is emulated.

The model, per direction (each way on its own):
- a serializer at `rate_bps` (256 kbit/s): a frame leaves the queue after the frames before
  it and its own IP bytes have been clocked out (Ethernet headers are not charged, as on a
  point-to-point link);
- a drop-tail queue of `queue_bytes` in front of it (a modem's buffer: a frame that finds it
  full is lost);
- `delay` seconds of propagation after the serializer (half the round trip: 150 ms);
- random loss of `loss` of the frames after serialization (3 %: a frame spoiled on the air
  still took its time on the link);
- `cut(seconds)`: the link goes down; every frame offered meanwhile is lost (frames already
  on the wire still arrive).

Counted per direction: the IP bytes the hosts offered to the link (what a capture on the box
shows, retransmissions included) and the IP bytes clocked out by the serializer. Needs root
(`ip netns`, veth) and ethtool (the veths' offloads are turned off, so that each frame is at
most one MTU and carries its own checksum).
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ETH_HEADER = 14
BOX_ADDRESS, REGISTRY_ADDRESS = "10.201.0.1", "10.201.0.2"


@dataclass
class Direction:
    """One way of the link: its queue, its serializer and its counters."""

    name: str
    rate_bps: float
    delay: float
    loss: float
    queue_bytes: int
    rng: random.Random
    offered: int = 0  # IP bytes the sending host put on the link
    clocked: int = 0  # IP bytes the serializer sent (lost on the air included)
    dropped: dict[str, int] = field(default_factory=lambda: {"loss": 0, "queue": 0, "cut": 0})
    busy_until: float = 0.0  # when the serializer finishes the frames queued so far
    pending: deque[tuple[float, float, int, bytes]] = field(default_factory=deque)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def offer(self, frame: bytes, now: float, down: bool) -> None:
        size = max(len(frame) - ETH_HEADER, 0)
        with self.cond:
            self.offered += size
            if down:
                self.dropped["cut"] += 1
                return
            backlog = (self.busy_until - now) * self.rate_bps / 8
            if backlog + size > self.queue_bytes:
                self.dropped["queue"] += 1
                return
            start = max(now, self.busy_until)
            self.busy_until = start + size * 8 / self.rate_bps
            self.pending.append((self.busy_until, self.busy_until + self.delay, size, frame))
            self.cond.notify()

    def deliver(self, out: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            with self.cond:
                while not self.pending and not stop.is_set():
                    self.cond.wait(0.2)
                if stop.is_set():
                    return
                _, due, size, frame = self.pending[0]
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with self.cond:
                self.pending.popleft()
                self.clocked += size
            if self.rng.random() < self.loss:
                self.dropped["loss"] += 1
                continue
            with contextlib.suppress(OSError):
                out.send(frame)


def _sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


class Link:
    """Two namespaces joined by the emulated link; `close()` removes them."""

    def __init__(
        self,
        rate_bps: float = 256_000,
        round_trip: float = 0.300,
        loss: float = 0.03,
        queue_bytes: int = 64 * 1024,
        seed: int = 1,
    ) -> None:
        tag = f"{os.getpid() % 100000}"
        self.box_ns, self.registry_ns = f"wanbox{tag}", f"wanreg{tag}"
        self.box_end, self.registry_end = f"wlb{tag}", f"wlr{tag}"
        self.rate_bps = rate_bps
        self.round_trip = round_trip
        self._made: list[str] = []
        self._stop = threading.Event()
        self._down_until = 0.0
        one_way = round_trip / 2
        self.up = Direction(
            "box->registry", rate_bps, one_way, loss, queue_bytes, random.Random(seed)
        )
        self.down = Direction(
            "registry->box", rate_bps, one_way, loss, queue_bytes, random.Random(seed + 1)
        )
        try:
            self._plumb()
            self._socks = [self._packet_socket(end) for end in (self.box_end, self.registry_end)]
        except BaseException:
            self.close()
            raise
        box_sock, registry_sock = self._socks
        for target, args in (
            (self._read, (box_sock, self.up)),
            (self._read, (registry_sock, self.down)),
            (self.up.deliver, (registry_sock, self._stop)),
            (self.down.deliver, (box_sock, self._stop)),
        ):
            threading.Thread(target=target, args=args, daemon=True).start()

    def _plumb(self) -> None:
        for ns, inner, outer, address in (
            (self.box_ns, "box0", self.box_end, BOX_ADDRESS),
            (self.registry_ns, "reg0", self.registry_end, REGISTRY_ADDRESS),
        ):
            _sh("ip", "netns", "add", ns)
            self._made.append(ns)
            _sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            self._made.append(outer)
            _sh("ip", "link", "set", inner, "netns", ns)
            run = ("ip", "netns", "exec", ns)
            _sh(*run, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
            _sh(*run, "ip", "link", "set", "lo", "up")
            _sh(*run, "ip", "addr", "add", f"{address}/24", "dev", inner)
            _sh(*run, "ethtool", "-K", inner, "tso", "off", "gso", "off", "gro", "off", "tx", "off")
            _sh(*run, "ip", "link", "set", inner, "up")
            _sh("sysctl", "-q", "-w", f"net.ipv6.conf.{outer}.disable_ipv6=1")
            _sh("ethtool", "-K", outer, "tso", "off", "gso", "off", "gro", "off", "tx", "off")
            _sh("ip", "link", "set", outer, "up")

    @staticmethod
    def _packet_socket(interface: str) -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((interface, ETH_P_ALL))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        return sock

    def _read(self, sock: socket.socket, way: Direction) -> None:
        while not self._stop.is_set():
            try:
                frame, address = sock.recvfrom(65535)
            except OSError:
                return
            if address[2] == PACKET_OUTGOING:  # our own frame, written out of this end
                continue
            now = time.monotonic()
            way.offer(frame, now, now < self._down_until)

    def cut(self, seconds: float) -> None:
        """The link goes down for `seconds` (from now)."""
        self._down_until = time.monotonic() + seconds

    def exec_in(self, side: str) -> list[str]:
        """The command prefix that runs a program on one side: 'box' or 'registry'."""
        return ["ip", "netns", "exec", self.box_ns if side == "box" else self.registry_ns]

    def counters(self) -> dict[str, object]:
        return {
            way.name: {"offered": way.offered, "clocked": way.clocked, "dropped": dict(way.dropped)}
            for way in (self.up, self.down)
        }

    def reset_counters(self) -> None:
        for way in (self.up, self.down):
            with way.cond:
                way.offered = way.clocked = 0
                way.dropped = {"loss": 0, "queue": 0, "cut": 0}

    def close(self) -> None:
        self._stop.set()
        for sock in getattr(self, "_socks", []):
            sock.close()
        for name in reversed(self._made):
            if name.startswith("wl"):
                subprocess.run(["ip", "link", "del", name], capture_output=True)
            else:
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self._made.clear()
