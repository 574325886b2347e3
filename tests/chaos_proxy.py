"""A TCP proxy on loopback that cuts connections: some mid-request, some mid-response.

Stands between a box and the registry to play a bad WAN link, or a frozen one (and, with no
cuts, counts the bytes on the wire for bench/sync.py). The dice are rolled for every HTTP
exchange, not every connection, since the box keeps its connection alive across exchanges.
Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time

_REQUEST_STARTS = (b"POST ", b"GET ")


class _Link:
    """One proxied connection: bytes forwarded each way, and where to cut (if anywhere)."""

    def __init__(self) -> None:
        self.sent = {"request": 0, "response": 0}
        self.limit: dict[str, int | None] = {"request": None, "response": None}


class ChaosProxy:
    def __init__(
        self,
        target_port: int,
        cut_probability: float,
        seed: int = 1,
        connection_seconds: float | None = 30,
    ) -> None:
        self.target_port = target_port
        self.connection_seconds = connection_seconds
        self.cut_probability = cut_probability
        self.rng = random.Random(seed)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.cuts = {"request": 0, "response": 0}
        self.connections = 0
        self.requests = 0  # HTTP requests forwarded, whole or in part
        self.bytes = {"request": 0, "response": 0}
        self.first_connection_at: float | None = None  # time.perf_counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        # A frozen link: connections are taken, bytes are swallowed, nothing is answered or
        # refused (a WAN that stalls, as opposed to one that is down).
        self.frozen = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self.server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            if self.first_connection_at is None:
                self.first_connection_at = time.perf_counter()
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _new_request(self, link: _Link, chunk: bytes) -> None:
        """A request starts in this chunk: maybe cut this exchange, in one direction."""
        with self._lock:
            self.requests += 1
            if self.requests <= 2 and self.cut_probability > 0:
                # The first two exchanges are cut for sure, once each way.
                direction = ("request", "response")[self.requests - 1]
            elif self.rng.random() < self.cut_probability:
                direction = self.rng.choice(["request", "response"])
            else:
                return
            if direction == "request":
                link.limit["request"] = link.sent["request"] + self.rng.randint(1, len(chunk))
            else:  # answers are ~300 bytes: inside the status line, headers or body
                link.limit["response"] = link.sent["response"] + self.rng.randint(1, 250)

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):  # forward each write at once, as a router would
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link()
        threads = [
            threading.Thread(target=self._pipe, args=(client, upstream, "request", link)),
            threading.Thread(target=self._pipe, args=(upstream, client, "response", link)),
        ]
        for t in threads:
            t.daemon = True
            t.start()
        for t in threads:
            t.join(self.connection_seconds)
        client.close()
        upstream.close()

    def _pipe(self, src: socket.socket, dst: socket.socket, direction: str, link: _Link) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if self.frozen.is_set():
                    continue  # swallowed
                if direction == "request" and data.startswith(_REQUEST_STARTS):
                    self._new_request(link, data)
                limit = link.limit[direction]
                if limit is not None and link.sent[direction] + len(data) >= limit:
                    dst.sendall(data[: max(limit - link.sent[direction], 0)])
                    self.cuts[direction] += 1
                    break  # cut: both sockets are shut down below
                dst.sendall(data)
                link.sent[direction] += len(data)
                self.bytes[direction] += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
