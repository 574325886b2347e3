"""One log line per event, to stderr (journald keeps it): level, logger, the request or task
it belongs to, and the message. Messages never carry personal data (names, declarations):
ids and counts only."""

from __future__ import annotations

import logging
import secrets
import sys
from contextvars import ContextVar

FORMAT = "%(levelname)s %(name)s [%(event)s] %(message)s"
# The HTTP request or worker task a line belongs to ("-" outside of one).
EVENT: ContextVar[str] = ContextVar("edge_event", default="-")


class _Event(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.event = EVENT.get()
        return True


class _OneLine(logging.Formatter):
    """Multi-line messages and tracebacks folded onto their event's one line."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", " | ")


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Event())
    handler.setFormatter(_OneLine(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise


def set_level(level: str) -> None:
    """Every logger of the process at this level from now on."""
    logging.getLogger().setLevel(getattr(logging, level.upper(), logging.INFO))


def end() -> None:
    EVENT.set("-")


def begin(kind: str) -> str:
    """Start a request or task: its lines carry this id until it ends."""
    event = f"{kind}-{secrets.token_hex(4)}"
    EVENT.set(event)
    return event
