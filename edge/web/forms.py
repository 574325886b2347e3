"""The declaration form and the action dialogs: form text to typed values, and the pages
that show them (with the problems of a refused try)."""

from __future__ import annotations

from typing import Any

from litestar import Response

from edge.errors import InvalidInput
from edge.journal import attachments as stored
from edge.journal.reads import RecordRow
from edge.journal.registration import registered_final_at
from edge.web import attachments
from edge.web.attachments import FormDocuments
from edge.web.context import Ctx, not_found, show
from edge.web.decisions import brief
from edge.web.messages import field_errors
from edge.workflow.config import FieldSpec
from edge.workflow.documents import check as check_documents
from edge.workflow.engine import fee_of, form_rules
from edge.workflow.forms import check_values, missing_required
from edge.workflow.model import CORE_ACTIONS, ActionType, Status
from edge.workflow.scopes import grants


def form_name(event_id: str, row: RecordRow | None, action: ActionType | None) -> str:
    """The name of a declaration form, the key of its copy kept in the browser."""
    if row is None:
        return f"new-{event_id}"
    return f"{row.state.id}-{action.value if action else 'edit'}"


def declaration_values(
    form: dict[str, str], specs: dict[str, FieldSpec], keep_empty: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field_id, spec in specs.items():
        raw = form.get(f"f.{field_id}")
        if spec.type == "boolean":
            raw = "true" if raw else ("" if keep_empty else None)
        if raw is None or (raw == "" and not keep_empty):
            continue
        values[field_id] = typed_value(raw, spec)
    return values


def typed_value(raw: str, spec: FieldSpec | None) -> Any:
    """A form's text as the field's type (left as text when it is not valid: the engine then
    names the field and the rule)."""
    raw = raw.strip()
    if spec is None or raw == "":
        return raw
    if spec.type == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if number.is_integer() else number
    if spec.type == "boolean":
        return raw in ("true", "on", "1")
    return raw


def form_page(
    ctx: Ctx,
    event_id: str,
    row: RecordRow | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    action: ActionType | None = None,
    documents: FormDocuments | None = None,
) -> Response[str]:
    event = ctx.state.config.events[event_id]
    docs = documents or FormDocuments()
    on_record = stored.on_record(ctx.state.reader.conn(), row.state.id) if row else []
    return show(
        ctx,
        "declaration.html",
        status,
        event=event,
        record=row,
        values=values,
        errors={**errors, **docs.errors},
        form_values=_dialog_values(ctx),
        doc_types=attachments.types_of(ctx, event_id).values(),
        kept=docs.kept,
        kept_docs=attachments.rows(ctx, event_id, docs.refs),
        record_docs=attachments.rows(ctx, event_id, [d.ref for d in on_record]),
        doc_limit=attachments.size_text(
            ctx, ctx.state.settings.documents_max_file_bytes, limit=True
        ),
        doc_max_bytes=ctx.state.settings.documents_max_file_bytes,
        action=action,
        action_label=CORE_ACTIONS[action].label if action else "",
        form_rules=form_rules(action, ctx.state.config) if action else {},
        form_name=form_name(event_id, row, action),
        draft_saved=bool(row and errors and row.state.status is Status.DRAFT),
        # Only the ways to finish an edit that this role has (no "Register with edits" for
        # an agent, who cannot register).
        may=_may(ctx, event_id, row),
    )


def _may(ctx: Ctx, event_id: str, row: RecordRow | None) -> dict[str, bool]:
    office = row.state.office_id if row else ctx.me.user.office_id
    return {
        kind: grants(ctx.me.actor, f"record.{kind}", office_id=office, event=event_id)
        for kind in ("notify", "declare", "register")
    }


def _dialog_values(ctx: Ctx) -> dict[str, str]:
    return {k[2:]: v for k, v in ctx.form.items() if k.startswith("d.")}


def dialog_page(
    ctx: Ctx,
    row: RecordRow,
    kind: ActionType,
    custom: str | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response[str]:
    action = ctx.state.config.custom.get(custom or "") if kind is ActionType.CUSTOM else None
    if kind is ActionType.CUSTOM and action is None:
        return not_found(ctx)
    # Printing before the registry accepted the registration gives a draft: say so first.
    draft_copy = kind is ActionType.PRINT and not registered_final_at(
        ctx.state.reader, row.state.id
    )
    return show(
        ctx,
        "dialog.html",
        status,
        record=row,
        kind=kind,
        custom=action,
        label=action.name if action else CORE_ACTIONS[kind].label,
        form_rules=form_rules(kind, ctx.state.config, draft=draft_copy)
        if kind is not ActionType.CUSTOM
        else {},
        fee=fee_of(ctx.state.config) if kind is ActionType.PRINT and not draft_copy else "",
        values=values,
        errors=errors,
        form_values=_dialog_values(ctx),
        draft_copy=draft_copy,
        form_name=form_name(row.state.event_type, row, kind),
        # The record in front of the person deciding: its declaration, a correction's
        # before → after, the records it may duplicate.
        brief=brief(ctx, row, kind),
    )


def declaration_gaps(
    ctx: Ctx,
    event_id: str,
    values: dict[str, Any],
    documents: FormDocuments | None = None,
    complete: bool = True,
) -> dict[str, str]:
    """What a declaration of these values (and documents) still lacks or has wrong, by form
    field; `complete=False`: only what is wrong (a draft may lack anything)."""
    specs = ctx.state.config.fields[event_id]
    problems = check_values(values, specs, "declaration", ctx.today)
    if complete:
        problems += missing_required(values, specs, "declaration")
        refs = tuple(documents.refs) if documents else ()
        problems += check_documents(refs, attachments.types_of(ctx, event_id), True, frozenset())
    return field_errors(ctx, InvalidInput(problems), event_id) if problems else {}


def review_page(
    ctx: Ctx,
    event_id: str,
    values: dict[str, Any],
    documents: FormDocuments,
    unconfirmed: bool = False,
) -> Response[str]:
    """Everything entered, before Declare: each field's value and document, what a
    declaration still needs marked, and the informant's confirmation (OpenCRVS's review).
    Nothing is saved yet (documents sent with the form wait on the box, kept with it)."""
    errors = declaration_gaps(ctx, event_id, values, documents)
    problems = bool(errors)
    if unconfirmed:
        errors["d.confirmation"] = ctx._(
            "Tick the box when the informant has confirmed the summary is right."
        )
    event = ctx.state.config.events[event_id]
    return show(
        ctx,
        "review.html",
        422 if unconfirmed else 200,
        event=event,
        values=values,
        errors=errors,
        gaps=problems,
        doc_types=attachments.types_of(ctx, event_id).values(),
        kept=documents.kept,
        kept_docs=attachments.rows(ctx, event_id, documents.refs),
        form_name=form_name(event_id, None, None),
        may=_may(ctx, event_id, None),
    )
