"""The workflow engine against seed 001: statuses, actions, flags, menu, worked examples."""

from __future__ import annotations

import pytest

from edge.errors import ActionNotAvailable, Forbidden, InvalidInput
from edge.workflow.config import Config
from edge.workflow.model import CORE_ACTIONS, ActionType, RecordState, Status
from edge.workflow.rules import ASSIGN_FIRST, action_menu, can_read
from tests.helpers import BIRTH, DEATH, TODAY, act, actor, actor_with

A = ActionType


def declared_birth(cfg: Config, who: str = "clinic-clerk") -> RecordState:
    clerk = actor(who, cfg)
    s = act(None, A.CREATE, clerk, cfg, event_type="birth", declaration={"child.first_name": "S"})
    return act(s, A.DECLARE, clerk, cfg, declaration=BIRTH)


def registered_birth(cfg: Config) -> RecordState:
    reg = actor("local-registrar", cfg)
    s = act(declared_birth(cfg), A.ASSIGN, reg, cfg)
    return act(s, A.REGISTER, reg, cfg)


def menu_labels(state: RecordState, who, cfg: Config) -> list[tuple[str, bool]]:
    return [(m.label, m.enabled) for m in action_menu(state, who, cfg, today=TODAY)]


def test_core_action_table_matches_seed_required_statuses() -> None:
    expected = {
        A.UPDATE: {"draft"},
        A.NOTIFY: {"draft"},
        A.DECLARE: {"draft", "notified"},
        A.MARK_AS_DUPLICATE: {"declared"},
        A.MARK_NOT_DUPLICATE: {"declared"},
        A.ARCHIVE: {"declared"},
        A.REJECT: {"declared"},
        A.EDIT: {"notified", "declared"},
        A.REGISTER: {"declared"},
        A.REQUEST_CORRECTION: {"registered"},
        A.APPROVE_CORRECTION: {"registered"},
        A.REJECT_CORRECTION: {"registered"},
        A.PRINT: {"registered"},
        A.ASSIGN: {"notified", "declared", "archived", "registered"},
        A.UNASSIGN: {"notified", "declared", "archived", "registered"},
    }
    assert set(CORE_ACTIONS) == set(ActionType) - {A.CUSTOM}
    for type_, statuses in expected.items():
        assert {s.value for s in CORE_ACTIONS[type_].statuses} == statuses, type_
    assert CORE_ACTIONS[A.MARK_AS_DUPLICATE].required_flags == {"potential-duplicate"}
    assert CORE_ACTIONS[A.APPROVE_CORRECTION].required_flags == {"correction-requested"}
    assert CORE_ACTIONS[A.REJECT_CORRECTION].required_flags == {"correction-requested"}


def test_seed_menu_example_registered_record(cfg: Config) -> None:
    # Seed 001 section 3: exactly Print, Correct, Issue verifiable credential, Unassign.
    user = actor_with(
        [
            "record.assign[event=birth]",
            "record.print[event=birth]",
            "record.correct[event=birth]",
            "record.customAction[event=birth actionType=Issue-Verifiable-Credential]",
        ]
    )
    state = registered_birth(cfg)
    state = act(state, A.ASSIGN, user, cfg)
    assert menu_labels(state, user, cfg) == [
        ("Print", True),
        ("Correct", True),
        ("Issue verifiable credential", True),
        ("Unassign", True),
    ]


def test_actions_stay_disabled_until_assigned(cfg: Config) -> None:
    user = actor_with(["record.assign[event=birth]", "record.print[event=birth]"])
    menu = action_menu(registered_birth(cfg), user, cfg, today=TODAY)
    assert [(m.label, m.enabled, m.reason) for m in menu] == [
        ("Assign", True, None),
        ("Print", False, ASSIGN_FIRST),
    ]
    with pytest.raises(ActionNotAvailable, match="Assign"):
        act(registered_birth(cfg), A.PRINT, user, cfg)


def test_draft_menu_is_update_notify_declare_delete(cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    s = act(None, A.CREATE, clerk, cfg, event_type="birth")
    assert s.status is Status.DRAFT and s.assigned_to == clerk.id
    assert menu_labels(s, clerk, cfg) == [
        ("Update", True),
        ("Notify", True),
        ("Declare", True),
        ("Delete draft", True),
    ]


def test_a_deleted_draft_is_nobodys_and_takes_nothing_more(cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    s = act(act(None, A.CREATE, clerk, cfg, event_type="birth"), A.DELETE, clerk, cfg)
    assert s.status is Status.DRAFT and "deleted" in s.flags
    assert not can_read(s, clerk)
    assert menu_labels(s, clerk, cfg) == []
    with pytest.raises(ActionNotAvailable, match="deleted"):
        act(s, A.UPDATE, clerk, cfg, declaration={"child.first_name": "Sara"})


def test_notify_accepts_incomplete_declare_names_each_missing_field(cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    s = act(None, A.CREATE, clerk, cfg, event_type="birth")
    with pytest.raises(InvalidInput) as err:
        act(s, A.DECLARE, clerk, cfg, declaration={"child.first_name": "Sara"})
    missing = {p.field for p in err.value.problems if p.rule == "required"}
    assert missing == {
        "declaration.child.last_name",
        "declaration.child.sex",
        "declaration.child.dob",
        "declaration.child.place_of_birth",
        "declaration.mother.first_name",
        "declaration.mother.last_name",
    }
    n = act(s, A.NOTIFY, clerk, cfg, declaration={"child.first_name": "Sara"})
    assert n.status is Status.NOTIFIED and n.assigned_to is None


def test_invalid_values_name_field_and_rule(cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    with pytest.raises(InvalidInput) as err:
        act(
            None,
            A.CREATE,
            clerk,
            cfg,
            event_type="birth",
            declaration={
                "child.dob": "2099-01-01",
                "child.sex": "x",
                "child.weight_kg": 50,
                "mother.national_id": "12",
                "nonsense": 1,
            },
        )
    rules = {(p.field, p.rule) for p in err.value.problems}
    assert rules == {
        ("declaration.child.dob", "not_in_future"),
        ("declaration.child.sex", "options"),
        ("declaration.child.weight_kg", "max"),
        ("declaration.mother.national_id", "pattern"),
        ("declaration.nonsense", "unknown_field"),
    }


def test_unknown_event_and_missing_scope(cfg: Config) -> None:
    with pytest.raises(InvalidInput, match="Unknown event type"):
        act(None, A.CREATE, actor("clinic-clerk", cfg), cfg, event_type="marriage")
    with pytest.raises(Forbidden):
        act(None, A.CREATE, actor("hospital-administrator", cfg), cfg, event_type="birth")


def test_agent_declare_adds_validated_clerk_does_not(cfg: Config) -> None:
    assert "validated" in declared_birth(cfg, "registration-agent").flags
    assert "validated" not in declared_birth(cfg, "clinic-clerk").flags


def test_late_registration_flag(cfg: Config) -> None:
    clerk = actor("clinic-clerk", cfg)
    s = act(None, A.CREATE, clerk, cfg, event_type="birth")
    s = act(s, A.DECLARE, clerk, cfg, declaration={**BIRTH, "child.dob": "2024-01-01"})
    assert "late-registration" in s.flags


def test_attest_worked_example(cfg: Config) -> None:
    clerk, hosp = actor("clinic-clerk", cfg), actor("hospital-administrator", cfg)
    reg = actor("local-registrar", cfg)
    s = act(None, A.CREATE, clerk, cfg, event_type="death")
    s = act(s, A.DECLARE, clerk, cfg, declaration=DEATH)
    assert s.flags == {"pending-attestation"}
    # Register is listed but disabled while pending attestation, with the configured reason.
    s_reg = act(s, A.ASSIGN, reg, cfg)
    register = next(m for m in action_menu(s_reg, reg, cfg, today=TODAY) if m.type is A.REGISTER)
    assert not register.enabled and "attests" in (register.reason or "")
    with pytest.raises(ActionNotAvailable):
        act(s_reg, A.REGISTER, reg, cfg)
    s = act(s_reg, A.UNASSIGN, reg, cfg)
    # The hospital administrator sees Attest, assigns and attests.
    s = act(s, A.ASSIGN, hosp, cfg)
    assert ("Attest", True) in menu_labels(s, hosp, cfg)
    s = act(s, A.CUSTOM, hosp, cfg, custom_type="Attest", form={"comments": "Seen in ward 3"})
    assert "pending-attestation" not in s.flags and s.status is Status.DECLARED
    s = act(s, A.ASSIGN, reg, cfg)
    assert act(s, A.REGISTER, reg, cfg).status is Status.REGISTERED


def test_attest_only_on_death_and_only_with_flag(cfg: Config) -> None:
    hosp = actor("hospital-administrator", cfg)
    agent_death = actor("registration-agent", cfg)
    s = act(None, A.CREATE, agent_death, cfg, event_type="death")
    s = act(s, A.DECLARE, agent_death, cfg, declaration=DEATH)  # an agent's death: no attestation
    s = act(s, A.ASSIGN, hosp, cfg)
    assert all(m.label != "Attest" for m in action_menu(s, hosp, cfg, today=TODAY))
    with pytest.raises(ActionNotAvailable, match="Pending attestation"):
        act(s, A.CUSTOM, hosp, cfg, custom_type="Attest")


def test_reject_then_declare_with_edits(cfg: Config) -> None:
    agent = actor("registration-agent", cfg)
    s = act(declared_birth(cfg), A.ASSIGN, agent, cfg)
    with pytest.raises(InvalidInput, match="reason"):
        act(s, A.REJECT, agent, cfg)
    s = act(s, A.REJECT, agent, cfg, form={"reason": "Mother's name misspelt"})
    assert s.flags == {"rejected"} and s.status is Status.DECLARED and s.assigned_to is None
    s = act(s, A.ASSIGN, agent, cfg)
    s = act(s, A.EDIT, agent, cfg, then=A.DECLARE, declaration={"mother.first_name": "Muna"})
    assert "rejected" not in s.flags and s.declaration["mother.first_name"] == "Muna"


def test_register_with_edits_needs_register_scope(cfg: Config) -> None:
    agent, reg = actor("registration-agent", cfg), actor("local-registrar", cfg)
    s = act(declared_birth(cfg), A.ASSIGN, agent, cfg)
    with pytest.raises(Forbidden):
        act(s, A.EDIT, agent, cfg, then=A.REGISTER, declaration={"child.first_name": "Sarah"})
    s = act(act(s, A.UNASSIGN, agent, cfg), A.ASSIGN, reg, cfg)
    s = act(s, A.EDIT, reg, cfg, then=A.REGISTER, declaration={"child.first_name": "Sarah"})
    assert s.status is Status.REGISTERED and s.declaration["child.first_name"] == "Sarah"


def test_potential_duplicate_blocks_register_until_resolved(cfg: Config) -> None:
    clerk, reg = actor("clinic-clerk", cfg), actor("local-registrar", cfg)
    s = act(None, A.CREATE, clerk, cfg, event_type="birth")
    s = act(s, A.DECLARE, clerk, cfg, declaration=BIRTH, duplicates=("other-record",))
    assert "potential-duplicate" in s.flags
    s = act(s, A.ASSIGN, reg, cfg)
    menu = {m.label: m for m in action_menu(s, reg, cfg, today=TODAY)}
    assert not menu["Register"].enabled and menu["Mark not a duplicate"].enabled
    s = act(s, A.MARK_NOT_DUPLICATE, reg, cfg)
    assert "potential-duplicate" not in s.flags
    s = act(s, A.ASSIGN, reg, cfg)
    assert act(s, A.REGISTER, reg, cfg).status is Status.REGISTERED


def test_mark_as_duplicate_archives(cfg: Config) -> None:
    clerk, reg = actor("clinic-clerk", cfg), actor("local-registrar", cfg)
    s = act(None, A.CREATE, clerk, cfg, event_type="birth")
    s = act(s, A.DECLARE, clerk, cfg, declaration=BIRTH, duplicates=("x",))
    s = act(
        act(s, A.ASSIGN, reg, cfg),
        A.MARK_AS_DUPLICATE,
        reg,
        cfg,
        form={"reason": "Same child as B123"},
    )
    assert s.status is Status.ARCHIVED and "potential-duplicate" not in s.flags


def test_correction_request_approve_and_reject(cfg: Config) -> None:
    reg = actor("local-registrar", cfg)
    s = act(registered_birth(cfg), A.ASSIGN, reg, cfg)
    with pytest.raises(InvalidInput, match="does not change"):
        act(
            s,
            A.REQUEST_CORRECTION,
            reg,
            cfg,
            declaration={"child.first_name": "Sara"},
            form={"reason": "typo", "requester": "the mother"},
        )
    s = act(
        s,
        A.REQUEST_CORRECTION,
        reg,
        cfg,
        declaration={"child.first_name": "Sarah"},
        form={"reason": "Spelling", "requester": "the mother"},
    )
    assert s.flags == {"correction-requested"} and s.declaration["child.first_name"] == "Sara"
    s1 = act(act(s, A.ASSIGN, reg, cfg), A.APPROVE_CORRECTION, reg, cfg)
    assert s1.declaration["child.first_name"] == "Sarah" and not s1.flags
    s2 = act(act(s, A.ASSIGN, reg, cfg), A.REJECT_CORRECTION, reg, cfg, form={"reason": "No proof"})
    assert s2.declaration["child.first_name"] == "Sara" and s2.pending_correction is None


def test_assignment_between_users(cfg: Config) -> None:
    agent = actor("registration-agent", cfg, uid="agent-1")
    other = actor("registration-agent", cfg, uid="agent-2")
    reg = actor("local-registrar", cfg)
    s = act(declared_birth(cfg), A.ASSIGN, agent, cfg)
    names = {"agent-1": "Yusuf"}.get
    menu = {
        m.label: m for m in action_menu(s, other, cfg, today=TODAY, names=lambda u: names(u) or "?")
    }
    assert not menu["Assign"].enabled and menu["Assign"].reason == "Assigned to Yusuf"
    assert "Unassign" not in menu
    with pytest.raises(ActionNotAvailable):
        act(s, A.ASSIGN, other, cfg)
    with pytest.raises(Forbidden):
        act(s, A.UNASSIGN, other, cfg)
    s = act(s, A.UNASSIGN, reg, cfg)  # the registrar may unassign others
    assert s.assigned_to is None


def test_jurisdiction_my_office(cfg: Config) -> None:
    elsewhere = actor("local-registrar", cfg, office="office-2")
    s = declared_birth(cfg)
    assert action_menu(s, elsewhere, cfg, today=TODAY) == []
    with pytest.raises(Forbidden):
        act(s, A.ASSIGN, elsewhere, cfg)


def test_inputs_an_action_does_not_take_are_refused(cfg: Config) -> None:
    reg = actor("local-registrar", cfg)
    s = act(registered_birth(cfg), A.ASSIGN, reg, cfg)
    with pytest.raises(InvalidInput, match="does not change the declaration"):
        act(s, A.PRINT, reg, cfg, declaration={"child.first_name": "X"})
    with pytest.raises(InvalidInput, match="does not take"):
        act(s, A.PRINT, reg, cfg, form={"colour": "red"})
    with pytest.raises(InvalidInput, match="custom_type"):
        act(s, A.CUSTOM, reg, cfg)


def test_fold_copies_every_field_of_the_state() -> None:
    """fold builds the next state field by field: a field added to RecordState and not
    copied there would be lost at the next action."""
    import dataclasses

    from edge.workflow.fold import Entry, fold
    from edge.workflow.model import ActionType, RecordState, Status

    before = RecordState(
        "r1",
        "birth",
        "office-1",
        "u1",
        "2026-01-01T00:00:00.000Z",
        Status.DECLARED,
        {"validated"},
        "u2",
        {"child.first_name": "Sara"},
        {"child.first_name": "Zara"},
        "2026-01-02T00:00:00.000Z",
        7,
    )
    assert all(
        getattr(before, f.name) != (f.default if f.default is not dataclasses.MISSING else None)
        for f in dataclasses.fields(RecordState)
    ), "give every field a non-default value above"
    entry = Entry(
        8,
        "a8",
        "r1",
        "birth",
        ActionType.UPDATE,
        None,
        "2026-01-03T00:00:00.000Z",
        None,
        "synced",
        "boot",
        "u2",
        "office-1",
        {},
        (),
        (),
    )
    after = fold(before, entry)
    unchanged = {f.name for f in dataclasses.fields(RecordState)} - {"updated_at", "last_seq"}
    assert {n: getattr(after, n) for n in unchanged} == {n: getattr(before, n) for n in unchanged}
    assert after.flags is not before.flags and after.declaration is not before.declaration
