"""Deciding an action: is it allowed, is its input valid, which flags does it change.

`decide` is pure: it reads the record's state, the user and the configuration and returns
what the journal entry will say; `fold` then applies that entry. Nothing is written when
`decide` raises.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from edge.errors import ActionNotAvailable, FieldProblem, Forbidden, InvalidInput
from edge.texts import tr
from edge.workflow.conditions import holds
from edge.workflow.config import Config, FlagRule
from edge.workflow.documents import DocumentRef
from edge.workflow.documents import check as check_documents
from edge.workflow.fold import merge_declaration
from edge.workflow.forms import check_values, has_control_characters, missing_required
from edge.workflow.model import CORE_ACTIONS, ActionType, Actor, CoreFlag, RecordState, Status
from edge.workflow.rules import availability
from edge.workflow.scopes import grants

TAKES_DECLARATION = {
    ActionType.CREATE,
    ActionType.UPDATE,
    ActionType.NOTIFY,
    ActionType.DECLARE,
    ActionType.EDIT,
    ActionType.REQUEST_CORRECTION,
}
REASON_MAX = 1000


@dataclass(frozen=True)
class ActionRequest:
    """What a user asked for, before any check."""

    type: ActionType
    record_id: str
    event_type: str | None = None  # CREATE only
    custom_type: str | None = None
    declaration: dict[str, Any] | None = None
    form: dict[str, Any] | None = None
    then: ActionType | None = None  # EDIT only
    documents: tuple[DocumentRef, ...] = ()  # supporting documents this action attaches


@dataclass(frozen=True)
class Decision:
    """What the journal entry for an allowed action says."""

    event_type: str
    payload: dict[str, Any]
    flags_added: tuple[str, ...]
    flags_removed: tuple[str, ...]


def decide(
    state: RecordState | None,
    req: ActionRequest,
    actor: Actor,
    config: Config,
    today: date,
    duplicates: tuple[str, ...] = (),
    documents_on_record: frozenset[str] = frozenset(),
) -> Decision:
    """Check the request against the rules; raise Forbidden / ActionNotAvailable / InvalidInput.
    `documents_on_record`: the types of the documents the record has (for required ones)."""
    if req.type is ActionType.CREATE:
        return _create(req, actor, config, today)
    if state is None:
        raise ValueError("decide needs the record's state for every action but CREATE")
    _refuse_unexpected(req)
    a = availability(state, actor, config, req.type, req.custom_type, req.then, today=today)
    if not a.permitted:
        raise Forbidden(a.reason or tr("Your role does not allow this action"))
    if not (a.applicable and a.enabled):
        raise ActionNotAvailable(a.reason or tr("This action is not available now"))

    if req.type is ActionType.CUSTOM:
        return _custom(state, req, config, today)
    specs = config.fields[state.event_type]
    changes = req.declaration or {}
    problems = check_values(changes, specs, "declaration", today)
    payload: dict[str, Any] = {}
    if changes:
        payload["declaration"] = changes
    merged = merge_declaration(state.declaration, changes)
    completes = req.type in (ActionType.DECLARE, ActionType.EDIT)
    if completes:
        problems += missing_required(merged, specs, "declaration")
    doc_types = config.documents.get(state.event_type, {})
    problems += check_documents(req.documents, doc_types, completes, documents_on_record)
    if req.documents:
        payload["documents"] = [d.payload() for d in req.documents]
    if req.type is ActionType.UPDATE and not changes and not req.documents:
        problems.append(FieldProblem("declaration", "required", "Give at least one field to save"))
    if req.type is ActionType.REQUEST_CORRECTION:
        problems += _correction_problems(state, changes, merged, specs)
    form, form_problems = _core_form(req, config)
    problems += form_problems
    if problems:
        raise InvalidInput(problems)
    if req.type is ActionType.PRINT and fee_of(config) and not _draft_copy(req):
        form["fee"] = fee_of(config)  # what was charged, recorded with the copy
    if form:
        payload["form"] = form

    flag_types = [req.type]
    if req.type is ActionType.EDIT:
        payload["then"] = str(req.then)
        flag_types.append(req.then)  # type: ignore[arg-type]
    adds = set(CORE_ACTIONS[req.type].adds)
    removes = set(CORE_ACTIONS[req.type].removes)
    declares = req.type is ActionType.DECLARE or req.then is ActionType.DECLARE
    if declares and duplicates:
        adds.add(CoreFlag.POTENTIAL_DUPLICATE)
        payload["duplicates"] = list(duplicates)
    rules = [r for t in flag_types if t in config.core for r in config.core[t].flag_rules]
    if rules:
        _apply_rules(rules, _probe(state, merged), actor, today, adds, removes)
    return _decision(state.event_type, state.flags, payload, adds, removes)


def _create(req: ActionRequest, actor: Actor, config: Config, today: date) -> Decision:
    event = req.event_type or ""
    if event not in config.events:
        known = ", ".join(sorted(config.events))
        raise InvalidInput(
            [
                FieldProblem(
                    "event_type", "unknown", f"Unknown event type “{event}”; use one of: {known}"
                )
            ]
        )
    if not grants(actor, "record.create", event=event):
        raise Forbidden(
            tr(
                "Your role does not allow starting a “%(event)s” declaration",
                event=config.events[event].label,
            )
        )
    _refuse_unexpected(req)
    changes = req.declaration or {}
    problems = check_values(changes, config.fields[event], "declaration", today)
    problems += check_documents(req.documents, config.documents.get(event, {}), False, frozenset())
    if problems:
        raise InvalidInput(problems)
    probe = RecordState(
        id=req.record_id,
        event_type=event,
        office_id=actor.office_id,
        created_by=actor.id,
        created_at="",
        declaration=dict(changes),
    )
    adds: set[str] = set()
    removes: set[str] = set()
    rules = config.core[ActionType.CREATE].flag_rules if ActionType.CREATE in config.core else []
    _apply_rules(rules, probe, actor, today, adds, removes)
    payload: dict[str, Any] = {"declaration": changes} if changes else {}
    if req.documents:
        payload["documents"] = [d.payload() for d in req.documents]
    return _decision(event, set(), payload, adds, removes)


def _custom(state: RecordState, req: ActionRequest, config: Config, today: date) -> Decision:
    action = config.custom[req.custom_type or ""]
    specs = {f.id: f for f in action.dialog_form}
    form = req.form or {}
    problems = check_values(form, specs, "form", today) + missing_required(form, specs, "form")
    if problems:
        raise InvalidInput(problems)
    payload: dict[str, Any] = {"audit": action.audit_copy}
    if form:
        payload["form"] = form
    return _decision(
        state.event_type, state.flags, payload, set(action.flags_added), set(action.flags_removed)
    )


def _refuse_unexpected(req: ActionRequest) -> None:
    problems = []
    if req.declaration and req.type not in TAKES_DECLARATION:
        problems.append(
            FieldProblem(
                "declaration", "not_allowed", f"{req.type} does not change the declaration"
            )
        )
    if req.documents and req.type not in TAKES_DECLARATION:
        problems.append(
            FieldProblem("documents", "not_allowed", f"{req.type} does not take documents")
        )
    if req.then is not None and req.type is not ActionType.EDIT:
        problems.append(FieldProblem("then", "not_allowed", "Only EDIT takes `then`"))
    if req.type is ActionType.EDIT and req.then not in (ActionType.DECLARE, ActionType.REGISTER):
        problems.append(FieldProblem("then", "required", "EDIT needs `then`: DECLARE or REGISTER"))
    if req.custom_type is not None and req.type is not ActionType.CUSTOM:
        problems.append(
            FieldProblem("custom_type", "not_allowed", "Only CUSTOM actions take `custom_type`")
        )
    if req.type is ActionType.CUSTOM and not req.custom_type:
        problems.append(FieldProblem("custom_type", "required", "CUSTOM needs `custom_type`"))
    if problems:
        raise InvalidInput(problems)


def form_rules(kind: ActionType, config: Config, draft: bool = False) -> dict[str, bool]:
    """The form a core action takes, key → required, with the country's part: a copy is
    issued against a fee's receipt where the country charges a fee, and without one where
    it does not. A draft copy (`draft`: printed before the registry accepted the
    registration, to check, never handed out) is collected by nobody and costs nothing."""
    rules = dict(CORE_ACTIONS[kind].form_rules)
    if kind is ActionType.PRINT and draft:
        return {"draft": True}
    if kind is ActionType.PRINT:
        fee = fee_of(config)
        if fee:
            rules["receipt"] = True
        else:
            rules.pop("receipt", None)
    return rules


def _draft_copy(req: ActionRequest) -> bool:
    return req.type is ActionType.PRINT and (req.form or {}).get("draft") == "yes"


def fee_of(config: Config) -> str:
    """The fee for a certified copy ("" for none)."""
    core = config.core.get(ActionType.PRINT)
    return core.fee if core else ""


def _core_form(req: ActionRequest, config: Config) -> tuple[dict[str, Any], list[FieldProblem]]:
    form = req.form or {}
    rules = form_rules(req.type, config, draft=_draft_copy(req))
    problems = []
    for key, value in form.items():
        if key not in rules:
            problems.append(
                FieldProblem(f"form.{key}", "unknown_field", f"{req.type} does not take `{key}`")
            )
        elif value is not None and not isinstance(value, str):
            problems.append(FieldProblem(f"form.{key}", "type", "must be text"))
        elif isinstance(value, str) and has_control_characters(value, multiline=True):
            problems.append(
                FieldProblem(
                    f"form.{key}", "characters", "contains characters that cannot be typed"
                )
            )
        elif isinstance(value, str) and len(value) > REASON_MAX:
            problems.append(
                FieldProblem(
                    f"form.{key}", "max_length", f"must be at most {REASON_MAX} characters"
                )
            )
    for key, required in rules.items():
        value = form.get(key)
        if required and (not isinstance(value, str) or not value.strip()):
            problems.append(FieldProblem(f"form.{key}", "required", f"A {key} is required"))
    return {k: v for k, v in form.items() if v not in (None, "")}, problems


def _correction_problems(
    state: RecordState, changes: dict[str, Any], merged: dict[str, Any], specs: dict[str, Any]
) -> list[FieldProblem]:
    if not changes:
        return [FieldProblem("declaration", "required", "Give the corrected fields")]
    if merged == state.declaration:
        return [FieldProblem("declaration", "unchanged", "The correction does not change anything")]
    return missing_required(merged, specs, "declaration")


def _probe(state: RecordState, declaration: dict[str, Any]) -> RecordState:
    """The record as flag rules see it: its state with the declaration after this action."""
    return replace(state, flags=set(state.flags), declaration=declaration)


def _apply_rules(
    rules: list[FlagRule],
    probe: RecordState,
    actor: Actor,
    today: date,
    adds: set[str],
    removes: set[str],
) -> None:
    for rule in rules:
        if holds(rule.when, probe, actor, probe.declaration, today):
            if rule.add:
                adds.add(rule.add)
                removes.discard(rule.add)
            if rule.remove:
                removes.add(rule.remove)
                adds.discard(rule.remove)


def _decision(
    event_type: str, current: set[str], payload: dict[str, Any], adds: set[str], removes: set[str]
) -> Decision:
    after = (current - removes) | adds
    return Decision(
        event_type, payload, tuple(sorted(after - current)), tuple(sorted(current - after))
    )


__all__ = ["ActionRequest", "Decision", "Status", "decide"]
