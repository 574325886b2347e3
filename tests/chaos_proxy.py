"""A TCP proxy on loopback that cuts connections: some mid-request, some mid-response.

Stands between a box and the registry to play a bad WAN link. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading


class ChaosProxy:
    def __init__(self, target_port: int, cut_probability: float, seed: int = 1) -> None:
        self.target_port = target_port
        self.cut_probability = cut_probability
        self.rng = random.Random(seed)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.cuts = {"request": 0, "response": 0}
        self.connections = 0
        self._stop = threading.Event()
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
            cut = None
            if self.connections <= 2 and self.cut_probability > 0:
                # The first two connections are cut for sure, once each way.
                cut = self._cut(["request", "response"][self.connections - 1])
            elif self.rng.random() < self.cut_probability:
                cut = self._cut(self.rng.choice(["request", "response"]))
            threading.Thread(target=self._serve, args=(client, cut), daemon=True).start()

    def _cut(self, direction: str) -> tuple[str, int]:
        # Answers are small (~300 bytes): cut them inside the status line or headers.
        return direction, self.rng.randint(1, 400 if direction == "request" else 150)

    def _serve(self, client: socket.socket, cut: tuple[str, int] | None) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
        except OSError:
            client.close()
            return
        limits = {"request": None, "response": None}
        if cut:
            limits[cut[0]] = cut[1]  # type: ignore[assignment]
        threads = [
            threading.Thread(target=self._pipe, args=(client, upstream, "request", limits)),
            threading.Thread(target=self._pipe, args=(upstream, client, "response", limits)),
        ]
        for t in threads:
            t.daemon = True
            t.start()
        for t in threads:
            t.join(30)
        client.close()
        upstream.close()

    def _pipe(
        self, src: socket.socket, dst: socket.socket, direction: str, limits: dict[str, int | None]
    ) -> None:
        sent = 0
        limit = limits[direction]
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[: max(limit - sent, 0)])
                    self.cuts[direction] += 1
                    break  # cut: both sockets are closed by _serve
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
