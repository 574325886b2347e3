"""What the officer sees while a run goes: one live line per box on a terminal (rich), plain
lines otherwise (a log, CI); then a summary with each failure's reason."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from provisioning.runner import Outcome, Watcher


@dataclass
class Line:
    step: str = "waiting"
    index: int = 0
    total: int = 0
    done: int = 0
    size: int = 0
    state: str = ""


def _bar(done: int, total: int, width: int = 12) -> str:
    filled = round(width * done / total) if total else 0
    return "█" * filled + "░" * (width - filled) + f" {100 * done // max(total, 1):3d}%"


class Progress(Watcher):
    def __init__(self, boxes: list[str], out: TextIO | None = None, live: bool | None = None):
        self.out = out or sys.stderr
        self.console = Console(file=self.out)
        self.lines = {b: Line() for b in boxes}
        self.lock = threading.Lock()
        self.live_view: Live | None = None
        use_live = self.console.is_terminal if live is None else live
        if use_live:
            self.live_view = Live(self._table(), console=self.console, refresh_per_second=4)

    def __enter__(self) -> Progress:
        if self.live_view:
            self.live_view.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live_view:
            self.live_view.update(self._table())
            self.live_view.stop()

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, show_header=False)
        for name, line in self.lines.items():
            count = f"{line.index}/{line.total}" if line.total else ""
            bar = _bar(line.done, line.size) if line.size else ""
            table.add_row(name, count, line.step[:48], bar, line.state)
        return table

    def _say(self, box: str, text: str) -> None:
        if self.live_view:
            self.live_view.update(self._table())
        else:
            stamp = time.strftime("%H:%M:%S")
            print(f"{stamp} {box}: {text}", file=self.out, flush=True)

    def step(self, box: str, index: int, total: int, says: str) -> None:
        with self.lock:
            self.lines[box] = Line(says, index, total)
            self._say(box, f"{index}/{total} {says}")

    def transfer(self, box: str, done: int, total: int) -> None:
        with self.lock:
            line = self.lines[box]
            line.done, line.size = done, total
            if self.live_view:
                self.live_view.update(self._table())

    def retrying(self, box: str, attempt: int, of: int, why: str, wait: float) -> None:
        with self.lock:
            self.lines[box].state = f"retrying ({attempt}/{of})"
            self._say(box, f"retrying ({attempt}/{of}) in {wait:.0f} s: {why}")

    def finished(self, outcome: Outcome) -> None:
        with self.lock:
            line = self.lines[outcome.box]
            line.state = "ok" if outcome.ok else "FAILED"
            line.step = outcome.says if outcome.ok else line.step
            self._say(outcome.box, f"{'ok' if outcome.ok else 'FAILED'}: {outcome.says}")


def summary(outcomes: list[Outcome]) -> str:
    """`38 ok · 2 failed`, then one line per failure with its reason and next action."""
    ok = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    head = f"{len(ok)} ok" + (f" · {len(failed)} failed" if failed else "")
    lines = [head]
    for o in failed:
        lines.append(f"  {o.box}: {o.says}")
    return "\n".join(lines)
