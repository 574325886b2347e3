"""Which actions a user may take on a record now, and why not: the action menu.

The menu is a pure function of (record state, user, configuration). An action is listed
when the user holds its scope, the record's status allows it and its required flags are
present (seed 001, section 3). A listed action is disabled, with the reason, while a
configured `disable_if` holds or while the user has not assigned the record to themself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from edge.texts import Text, tr
from edge.workflow.conditions import describe, holds
from edge.workflow.config import Condition, Config, CustomAction, Workqueue
from edge.workflow.model import (
    CORE_ACTIONS,
    MENU_ORDER,
    ActionType,
    Actor,
    CoreFlag,
    RecordState,
    Status,
)
from edge.workflow.scopes import grants

ASSIGN_FIRST = "Assign this record to yourself first"


@dataclass(frozen=True)
class Availability:
    """Whether one action is open to a user on a record, and the reason when it is not."""

    type: ActionType
    label: str
    custom_type: str | None = None
    permitted: bool = True  # holds the scope for this record
    applicable: bool = True  # status and required flags allow it
    enabled: bool = True
    reason: str | None = None


@dataclass(frozen=True)
class MenuItem:
    type: ActionType
    label: str
    enabled: bool
    reason: str | None
    custom_type: str | None = None


Names = Callable[[str], str]


def availability(
    state: RecordState,
    actor: Actor,
    config: Config,
    type_: ActionType,
    custom_type: str | None = None,
    then: ActionType | None = None,
    *,
    today: date,
    names: Names | None = None,
) -> Availability:
    """Evaluate one action on an existing record for one user."""
    if CoreFlag.DELETED in state.flags:  # a deleted draft takes nothing more
        label = (custom_type or "") if type_ is ActionType.CUSTOM else CORE_ACTIONS[type_].label
        return _not_applicable(type_, label, custom_type, reason=tr("This draft was deleted"))
    if type_ is ActionType.CUSTOM:
        return _custom(state, actor, config, custom_type or "", today)
    spec = CORE_ACTIONS[type_]
    label = spec.label
    name_of = names or (lambda uid: "someone else")
    if type_ is ActionType.CREATE:
        return _not_applicable(type_, label, reason=tr("The record already exists"))
    if type_ in (ActionType.ASSIGN, ActionType.UNASSIGN):
        return _assignment(state, actor, type_, label, name_of)
    scope = spec.scope
    statuses = spec.statuses
    disable_if = list(config.core.get(type_, _NO_CFG).disable_if)
    if type_ is ActionType.EDIT:
        options = [t for t in (ActionType.DECLARE, ActionType.REGISTER) if then in (None, t)]
        held = [
            t
            for t in options
            if grants(
                actor, CORE_ACTIONS[t].scope, office_id=state.office_id, event=state.event_type
            )
        ]
        if not held:
            return _refused(type_, label, reason=_edit_refusal(then))
        if then is ActionType.REGISTER:
            disable_if += config.core.get(ActionType.REGISTER, _NO_CFG).disable_if
        scope = ""  # already checked
    if scope and not grants(actor, scope, office_id=state.office_id, event=state.event_type):
        return _refused(type_, label, reason=_role_refusal(label))
    if state.status not in statuses:
        return _not_applicable(type_, label, reason=_wrong_status(label, state.status))
    missing = spec.required_flags - state.flags
    if missing:
        return _not_applicable(type_, label, reason=_needs_flags(missing, config))
    return _enabled(
        state, actor, config, type_, label, None, disable_if, today, spec.needs_assignment
    )


def action_menu(
    state: RecordState,
    actor: Actor,
    config: Config,
    *,
    today: date,
    names: Names | None = None,
) -> list[MenuItem]:
    """Every applicable action for this user on this record, enabled or with a reason."""
    items: list[MenuItem] = []
    candidates: list[tuple[ActionType, str | None]] = [(t, None) for t in MENU_ORDER]
    candidates += [(ActionType.CUSTOM, cid) for cid in config.custom]
    candidates.append((ActionType.UNASSIGN, None))
    for type_, cid in candidates:
        a = availability(state, actor, config, type_, cid, today=today, names=names)
        if a.permitted and a.applicable:
            items.append(MenuItem(a.type, a.label, a.enabled, a.reason, a.custom_type))
    return items


def _refused(
    type_: ActionType, label: str, custom_type: str | None = None, *, reason: str
) -> Availability:
    """The user's role does not hold the action's scope for this record."""
    return Availability(
        type_, label, custom_type, permitted=False, applicable=False, enabled=False, reason=reason
    )


def _not_applicable(
    type_: ActionType, label: str, custom_type: str | None = None, *, reason: str
) -> Availability:
    """The record's status or flags rule the action out."""
    return Availability(type_, label, custom_type, applicable=False, enabled=False, reason=reason)


class _NoConfig:
    disable_if: list[Condition] = []
    flag_rules: list[object] = []


_NO_CFG = _NoConfig()


def _edit_refusal(then: ActionType | None) -> Text:
    if then is ActionType.DECLARE:
        return tr("Your role does not allow declaring with edits")
    if then is ActionType.REGISTER:
        return tr("Your role does not allow registering with edits")
    return tr("Your role does not allow editing")


def _role_refusal(label: str) -> Text:
    return tr("Your role does not allow “%(action)s” on this record", action=label)


def _wrong_status(label: str, status: Status) -> Text:
    return tr(
        "“%(action)s” is not possible on a record with status “%(status)s”",
        action=label,
        status=status.value.capitalize(),
    )


def _needs_flags(missing: frozenset[str] | set[str], config: Config) -> Text:
    labels = ", ".join(f"“{config.flag_label(f)}”" for f in sorted(missing))
    return tr("Only possible when the record is flagged %(flags)s", flags=labels)


def _enabled(
    state: RecordState,
    actor: Actor,
    config: Config,
    type_: ActionType,
    label: str,
    custom_type: str | None,
    disable_if: list[Condition],
    today: date,
    needs_assignment: bool,
) -> Availability:
    for cond in disable_if:
        if holds(cond, state, actor, state.declaration, today):
            return Availability(
                type_, label, custom_type, enabled=False, reason=describe(cond, config)
            )
    if needs_assignment and state.assigned_to != actor.id:
        return Availability(type_, label, custom_type, enabled=False, reason=ASSIGN_FIRST)
    return Availability(type_, label, custom_type)


def _assignment(
    state: RecordState, actor: Actor, type_: ActionType, label: str, name_of: Names
) -> Availability:
    if state.status is Status.DRAFT:
        return _not_applicable(
            type_, label, reason=tr("A draft stays with the person who started it")
        )
    mine = state.assigned_to == actor.id
    may_assign = grants(actor, "record.assign", office_id=state.office_id, event=state.event_type)
    if type_ is ActionType.ASSIGN:
        if not may_assign:
            return _refused(
                type_, label, reason=tr("Your role does not allow assigning this record")
            )
        if mine:
            return _not_applicable(type_, label, reason=tr("The record is already assigned to you"))
        if state.assigned_to is not None:
            return Availability(
                type_,
                label,
                enabled=False,
                reason=tr("Assigned to %(name)s", name=name_of(state.assigned_to)),
            )
        return Availability(type_, label)
    if state.assigned_to is None:
        return _not_applicable(type_, label, reason=tr("The record is not assigned to anyone"))
    if mine:
        if may_assign:
            return Availability(type_, label)
        return _refused(type_, label, reason=tr("Your role does not allow unassigning this record"))
    if grants(actor, "record.unassign-others", office_id=state.office_id, event=state.event_type):
        return Availability(type_, label)
    return _refused(
        type_,
        label,
        reason=tr(
            "Assigned to %(name)s; only a user who may unassign others can release it",
            name=name_of(state.assigned_to),
        ),
    )


def custom_requirement_holds(
    action: CustomAction, config: Config, state: RecordState, actor: Actor
) -> bool:
    """The configured scope of a custom action, checked for this user and record."""
    required = config.custom_scopes[action.id]
    event = required.option("event")
    if event is not None and state.event_type not in event:
        return False
    jurisdiction = required.option("jurisdiction") or frozenset({"all"})
    if "all" not in jurisdiction and state.office_id != actor.office_id:
        return False
    return grants(
        actor,
        required.name,
        office_id=state.office_id,
        event=state.event_type,
        actionType=action.id,
    )


def _custom(
    state: RecordState, actor: Actor, config: Config, cid: str, today: date
) -> Availability:
    action = config.custom.get(cid)
    if action is None:
        return _refused(
            ActionType.CUSTOM, cid, cid, reason=tr("There is no action “%(action)s”", action=cid)
        )
    t, label = ActionType.CUSTOM, action.name
    if action.events and state.event_type not in action.events:
        event = config.events.get(state.event_type)
        return _not_applicable(
            t,
            label,
            cid,
            reason=tr(
                "“%(action)s” does not apply to a record of type “%(event)s”",
                action=label,
                event=event.label if event else state.event_type,
            ),
        )
    if not custom_requirement_holds(action, config, state, actor):
        return _refused(t, label, cid, reason=_role_refusal(label))
    if state.status not in action.required_statuses:
        return _not_applicable(t, label, cid, reason=_wrong_status(label, state.status))
    missing = set(action.required_flags) - state.flags
    if missing:
        return _not_applicable(t, label, cid, reason=_needs_flags(missing, config))
    return _enabled(state, actor, config, t, label, cid, list(action.disable_if), today, True)


def visible_queues(actor: Actor, queues: dict[str, Workqueue]) -> list[Workqueue]:
    """The workqueues the actor's role lists (`workqueue[id=...]` scopes), in configured order."""
    return [q for q in queues.values() if grants(actor, "workqueue", id=q.id)]


def can_print(state: RecordState, actor: Actor) -> bool:
    """Whether the actor's role may issue certified copies of this record."""
    return state.status is Status.REGISTERED and grants(
        actor, "record.print", office_id=state.office_id, event=state.event_type
    )


def can_read(state: RecordState, actor: Actor) -> bool:
    """Drafts are private to their author (a deleted one to nobody); other records need
    `record.read`."""
    if state.status is Status.DRAFT:
        return state.created_by == actor.id and CoreFlag.DELETED not in state.flags
    return grants(actor, "record.read", office_id=state.office_id, event=state.event_type)
