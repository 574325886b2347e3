"""The outbox: every action the registry has not accepted yet, with where it stands."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import Parameter

from edge.http import paging
from edge.http.schemas import OutboxItem, OutboxPage, OutboxSummary, SyncStageOut
from edge.state import BoxState
from edge.workflow.model import Actor, action_label


@get("/api/v1/outbox", operation_id="getOutbox", tags=["sync"], sync_to_thread=True)
def get_outbox(
    actor: NamedDependency[Actor],
    state: BoxState,
    page: Annotated[int, Parameter(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int | None, Parameter(ge=1)] = None,
    after: Annotated[int, Parameter(ge=0, description="`next` of the previous page")] = 0,
) -> OutboxPage:
    """Actions not yet accepted by the registry (on records you may see), oldest first, each
    with its state, attempts, last error, next try and the registry's reason if refused."""
    size = paging.page_size(state.settings, page_size)
    if page > 1 and not after:  # an old client's page number: walk to it, page by page
        for _ in range(page - 1):
            _, moved = state.reader.outbox(actor, size, after)
            if moved is None:
                break
            after = moved
    rows, following = state.reader.outbox(actor, size, after)
    names = state.reader.user_names({r["created_by"] for r in rows})
    s = state.reader.sync_summary()
    counts = s["counts"]
    summary = OutboxSummary(
        s["enrolled"],
        counts.get("pending", 0),
        counts.get("sending", 0),
        counts.get("rejected", 0),
        counts.get("conflict", 0),
        counts.get("discarded", 0),
        s["last_success_at"],
        s["last_error"],
        s["next_try_at"],
        s["last_pull_at"],
        s["last_pull_error"],
        s["registry_reachable"],
        s["registry_checked_at"],
        s["registry_config_version"],
        [
            SyncStageOut(
                st.name,
                st.status,
                st.since,
                st.last_error,
                st.next_try,
                st.attempts,
                st.updated_at,
                st.last_done,
                st.sentence(),
            )
            for st in s["stages"]
        ],
    )
    items = [
        OutboxItem(
            r["id"],
            r["seq"],
            r["record_id"],
            r["tracking_id"],
            r["title"],
            r["type"],
            action_label(r["type"], r["payload"]),
            r["created_at"],
            names.get(r["created_by"], ""),
            r["state"],
            r["attempts"],
            r["last_error"],
            r["next_try_at"],
            r["reason"],
            r["discarded_by"],
            r["discarded_at"],
        )
        for r in rows
    ]
    total = sum(
        counts.get(k, 0) for k in ("pending", "sending", "rejected", "conflict", "discarded")
    )
    return OutboxPage(summary, items, page, size, total, following)
