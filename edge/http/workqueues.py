"""Workqueues: the lists a user works from, as the country configuration defines them."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter

from edge.errors import NotFound
from edge.http import paging
from edge.http.records import record_out
from edge.http.schemas import RecordPage, WorkqueueOut
from edge.state import BoxState
from edge.workflow.model import Actor
from edge.workflow.rules import visible_queues
from edge.workflow.scopes import grants


class WorkqueueController(Controller):
    path = "/api/v1/workqueues"
    tags = ["workqueues"]

    @get("/", operation_id="listWorkqueues", sync_to_thread=True)
    def list_workqueues(self, actor: NamedDependency[Actor], state: BoxState) -> list[WorkqueueOut]:
        """The workqueues of the user's role, with how many records each holds."""
        out = []
        for q in visible_queues(actor, state.config.workqueues):
            n = state.reader.workqueue_count(q.query, actor)
            out.append(WorkqueueOut(q.id, q.label, n.n, n.more))
        return out

    @get("/{queue_id:str}/records", operation_id="listWorkqueueRecords", sync_to_thread=True)
    def list_records(
        self,
        queue_id: FromPath[str],
        actor: NamedDependency[Actor],
        state: BoxState,
        page: Annotated[int, Parameter(ge=1, le=1_000_000, description="1 is the first page")] = 1,
        page_size: Annotated[int | None, Parameter(ge=1, description="records per page")] = None,
        after: Annotated[
            str | None, Parameter(max_length=200, description="`next` of the previous page")
        ] = None,
    ) -> RecordPage:
        """One page of a workqueue, most recently changed first. Follow `next` (as `after`):
        any page costs the same; `page` numbers past the first cost more the deeper."""
        queue = state.config.workqueues.get(queue_id)
        if queue is None or not grants(actor, "workqueue", id=queue_id):
            raise NotFound(f"There is no workqueue “{queue_id}” for you")
        size = paging.page_size(state.settings, page_size)
        skip = 0 if after else (page - 1) * size
        rows, following = state.reader.workqueue(queue.query, actor, size, after, skip)
        total = state.reader.workqueue_count(queue.query, actor)
        names = state.reader.user_names({r.state.assigned_to for r in rows if r.state.assigned_to})
        items = [record_out(r, names) for r in rows]
        return RecordPage(items, page, size, total.n, total.more, following)
