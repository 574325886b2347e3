"""The reference registry for bench/wan.py: the real one, plus the naive route of
bench/support/naive_registry.py, counting at the registry what every pushed batch held: the
actions received, those it already had (sent twice), and the largest batch. The counts are
written to `counts.json` in the registry's home after each batch."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "support"))

import naive_registry  # noqa: E402  (adds the naive route)

from upstream_sync.registry import accept  # noqa: E402
from upstream_sync.registry.cli import main  # noqa: E402

_accept_batch = accept.accept_batch
_lock = threading.Lock()
_counts = {"batches": 0, "received": 0, "accepted": 0, "duplicate": 0, "largest_batch": 0}


def _home() -> Path:
    return Path(sys.argv[sys.argv.index("--home") + 1])


def counting_accept_batch(*args: Any, **kw: Any) -> Any:
    answered = _accept_batch(*args, **kw)
    if answered is not None:
        results = answered[0]
        with _lock:
            _counts["batches"] += 1
            _counts["received"] += len(results)
            _counts["largest_batch"] = max(_counts["largest_batch"], len(results))
            for r in results:
                if r.status in ("accepted", "duplicate"):
                    _counts[r.status] += 1
            path = _home() / "counts.json"
            path.with_suffix(".tmp").write_text(json.dumps(_counts))
            os.replace(path.with_suffix(".tmp"), path)
    return answered


accept.accept_batch = counting_accept_batch
assert naive_registry.naive_action is not None

if __name__ == "__main__":
    raise SystemExit(main())
