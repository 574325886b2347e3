"""The reference registry plus the naive way of sending, for bench/sync.py only: one action
per HTTP request, as plain JSON, the way a browser's outbox sends them. It stores through the
same accept_batch as the real protocol, so the comparison is about the wire and batching."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from litestar import Litestar, Request, post  # noqa: E402
from litestar.datastructures import State  # noqa: E402

from edge.clock import iso_ms, utcnow  # noqa: E402
from edge.ids import uuid7  # noqa: E402
from upstream_sync.protocol import ActionResult, PushBatch, UserInfo, WireAction  # noqa: E402
from upstream_sync.registry import accept, enrollment  # noqa: E402
from upstream_sync.registry import app as registry_app  # noqa: E402
from upstream_sync.registry.cli import main  # noqa: E402
from upstream_sync.registry.context import registry_of  # noqa: E402


@post("/naive/v1/action", status_code=200, sync_to_thread=True)
def naive_action(request: Request[Any, Any, Any], state: State, data: WireAction) -> ActionResult:
    """One action, one request, one transaction (the box is named by a header, and says who
    made the action: bench only)."""
    reg = registry_of(state)
    box = request.headers["x-edge-box"]
    office = enrollment.box_office(reg.db, box)
    maker = UserInfo(data.created_by, data.created_by, "", "clinic-clerk", office, True)
    now = utcnow()
    pushed = PushBatch(iso_ms(now), [data], users=[maker])
    answered = accept.accept_batch(reg.db, box, uuid7(), pushed, now, reg.config)
    return answered[0][0] if answered else ActionResult(data.id, "rejected", reason="replay")


_create = registry_app.create_registry_app


def _with_naive(home: Path, settings: Any = None) -> Litestar:
    app = _create(home, settings)
    app.register(naive_action)
    return app


registry_app.create_registry_app = _with_naive

if __name__ == "__main__":
    raise SystemExit(main())
