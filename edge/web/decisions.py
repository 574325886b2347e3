"""What a person deciding has in front of them: the declaration, a requested correction as
before → after (only the fields it changes) with who asked and why, and the records a
declaration may duplicate, side by side."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.journal.reads import RecordRow, SyncInfo
from edge.web.context import Ctx
from edge.web.render import shown
from edge.workflow.config import FieldSpec
from edge.workflow.fold import Entry, fold
from edge.workflow.model import ActionType, RecordState
from edge.workflow.rules import availability, can_read

# The possible duplicates shown beside a record (a declaration rarely matches more).
MAX_SIDE_BY_SIDE = 3

Timeline = list[tuple[Entry, SyncInfo]]


@dataclass(frozen=True)
class Line:
    label: str
    value: str


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Correction:
    changes: list[Change]
    by: str
    at: str
    reason: str
    requester: str = ""


@dataclass(frozen=True)
class Twin:
    """A record the declaration may duplicate, field by field beside it."""

    id: str
    tracking_id: str
    title: str
    readable: bool
    rows: list[tuple[str, str, str, bool]] = field(
        default_factory=list
    )  # label, here, there, differs


@dataclass(frozen=True)
class Brief:
    declaration: list[Line]
    correction: Correction | None
    twins: list[Twin]
    # Mark as duplicate / not a duplicate: the other of the two, when the user may take it.
    other_choice: ActionType | None = None


def brief(ctx: Ctx, row: RecordRow, kind: ActionType | None) -> Brief:
    timeline = ctx.state.reader.timeline(row.state.id)
    choices = (ActionType.MARK_AS_DUPLICATE, ActionType.MARK_NOT_DUPLICATE)
    other = None
    if kind in choices:
        other = choices[1 - choices.index(kind)]
        a = availability(row.state, ctx.me.actor, ctx.state.config, other, None, today=ctx.today)
        other = other if a.enabled else None
    return Brief(
        declaration=declaration_lines(ctx, row),
        correction=correction(ctx, row, timeline),
        twins=twins(ctx, row, timeline) if kind in choices else [],
        other_choice=other,
    )


def declaration_lines(ctx: Ctx, row: RecordRow) -> list[Line]:
    specs = _specs(ctx, row)
    values = row.state.declaration
    return [
        Line(ctx._(s.label), _shown(ctx, s, values[s.id]))
        for s in specs
        if values.get(s.id) not in (None, "")
    ]


def correction(ctx: Ctx, row: RecordRow, timeline: Timeline) -> Correction | None:
    asked = row.state.pending_correction
    if not asked:
        return None
    specs = {s.id: s for s in _specs(ctx, row)}
    request = next(
        (e for e, _ in reversed(timeline) if e.type is ActionType.REQUEST_CORRECTION), None
    )
    changes = _changes(ctx, specs, row.state.declaration, asked)
    if request is None:
        return Correction(changes, "?", "", "")
    names = ctx.state.reader.user_names({request.created_by})
    said = request.payload.get("form") or {}
    return Correction(
        changes,
        names.get(request.created_by, "?"),
        ctx.when(request.created_at),
        str(said.get("reason") or ""),
        str(said.get("requester") or ""),
    )


def _changes(
    ctx: Ctx, specs: dict[str, FieldSpec], before: dict[str, Any], asked: dict[str, Any]
) -> list[Change]:
    """Each field a correction changes, before → after (a field it leaves as it was is not
    listed, so nothing looks erased)."""
    return [
        Change(
            ctx._(specs[k].label) if k in specs else k,
            _shown(ctx, specs.get(k), before.get(k)),
            _shown(ctx, specs.get(k), v),
        )
        for k, v in asked.items()
        if before.get(k) != v and (v or before.get(k))
    ]


def corrections_in_history(ctx: Ctx, row: RecordRow, timeline: Timeline) -> dict[str, list[Change]]:
    """For the history: what each correction asked for (REQUEST_CORRECTION) and what each
    approval changed (APPROVE_CORRECTION), before → after as the record stood then; by the
    action's id."""
    specs = {s.id: s for s in _specs(ctx, row)}
    out: dict[str, list[Change]] = {}
    state: RecordState | None = None
    for e, _ in timeline:
        if state is not None and e.type is ActionType.REQUEST_CORRECTION:
            out[e.id] = _changes(ctx, specs, state.declaration, e.payload.get("declaration") or {})
        elif state is not None and e.type is ActionType.APPROVE_CORRECTION:
            out[e.id] = _changes(ctx, specs, state.declaration, state.pending_correction or {})
        try:
            state = fold(state, e)
        except (ValueError, KeyError):  # a history the box cannot replay: no diffs, no error
            return out
    return out


def maybe_duplicates(timeline: Timeline) -> list[str]:
    """The records the box found this declaration may duplicate, when it was declared."""
    for e, _ in reversed(timeline):
        found = e.payload.get("duplicates")
        if found:
            return [str(r) for r in found][:MAX_SIDE_BY_SIDE]
    return []


def twins(ctx: Ctx, row: RecordRow, timeline: Timeline) -> list[Twin]:
    out = []
    specs = _specs(ctx, row)
    here = row.state.declaration
    for other_id in maybe_duplicates(timeline):
        other = ctx.state.reader.record(other_id)
        if other is None:
            continue
        if not can_read(other.state, ctx.me.actor):
            out.append(Twin(other.state.id, other.tracking_id, "", False))
            continue
        there = other.state.declaration
        rows = [
            (
                ctx._(s.label),
                _shown(ctx, s, here.get(s.id)),
                _shown(ctx, s, there.get(s.id)),
                here.get(s.id) != there.get(s.id),
            )
            for s in specs
            if here.get(s.id) not in (None, "") or there.get(s.id) not in (None, "")
        ]
        out.append(Twin(other.state.id, other.tracking_id, other.title, True, rows))
    return out


def _specs(ctx: Ctx, row: RecordRow) -> list[FieldSpec]:
    event = ctx.state.config.events.get(row.state.event_type)
    return list(event.fields) if event else []


def _shown(ctx: Ctx, spec: FieldSpec | None, value: Any) -> str:
    if value in (None, ""):
        return "—"
    return str(value) if spec is None else shown(spec, value, ctx._, ctx.lang.code)
