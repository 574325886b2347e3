"""Evaluation of configured conditions (flag rules' `when`, `disable_if`)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from edge.workflow.config import Condition, Config
from edge.workflow.model import Actor, RecordState
from edge.workflow.scopes import Scope, grants, parse_scope


@lru_cache(maxsize=256)
def _scope(text: str) -> Scope:
    return parse_scope(text)


def holds(
    c: Condition, state: RecordState, actor: Actor, declaration: dict[str, Any], today: date
) -> bool:
    """True when every key given in the condition holds."""
    if c.event is not None and state.event_type not in c.event:
        return False
    if c.actor_role is not None and actor.role not in c.actor_role:
        return False
    if c.actor_has_scope is not None:
        s = _scope(c.actor_has_scope)
        if not grants(actor, s.name, office_id=state.office_id, event=state.event_type):
            return False
    if c.flag is not None and c.flag not in state.flags:
        return False
    if c.not_flag is not None and c.not_flag in state.flags:
        return False
    if c.status is not None and state.status not in c.status:
        return False
    if c.field_older_than is not None:
        raw = declaration.get(c.field_older_than.field)
        try:
            day = date.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            day = None
        if day is None or (today - day).days <= c.field_older_than.days:
            return False
    return True


def describe(c: Condition, config: Config) -> str:
    """The sentence shown when a `disable_if` condition disables an action."""
    if c.reason:
        return c.reason
    if c.flag is not None:
        return f"Not available while the record is flagged “{config.flag_label(c.flag)}”"
    if c.not_flag is not None:
        return f"Not available until the record is flagged “{config.flag_label(c.not_flag)}”"
    return "Not available for this record under the office's rules"
