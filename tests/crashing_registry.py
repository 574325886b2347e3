"""The reference registry, killed with SIGKILL right after it commits a push batch and
before it answers: the worst moment for exactly-once delivery. Tests only.

`CRASH_AFTER_BATCHES=N` kills it after the N-th committed batch."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from upstream_sync.registry import accept
from upstream_sync.registry.cli import main

_after = int(os.environ.get("CRASH_AFTER_BATCHES", "1"))
_accept = accept.accept_batch
_committed = 0


def _accept_then_die(*args: Any, **kwargs: Any) -> Any:
    global _committed
    results = _accept(*args, **kwargs)  # committed when this returns
    _committed += 1
    if results is not None and _committed >= _after:
        os.kill(os.getpid(), signal.SIGKILL)
    return results


accept.accept_batch = _accept_then_die

if __name__ == "__main__":
    sys.exit(main())
