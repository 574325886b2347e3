"""Country configuration and scopes: validated, errors name the file, entry and field."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from edge.errors import ConfigError
from edge.workflow.config import build_config, default_config_path, load_config
from edge.workflow.model import Actor
from edge.workflow.scopes import grants, parse_scope


def raw() -> dict[str, Any]:
    return tomllib.loads(default_config_path().read_text())


def broken(change: Any) -> str:
    cfg = copy.deepcopy(raw())
    change(cfg)
    with pytest.raises(ConfigError) as err:
        build_config(cfg, "country.toml")
    return err.value.detail


def test_default_config_ships_events_roles_and_attest() -> None:
    cfg = load_config()
    assert set(cfg.events) == {"birth", "death"}
    assert {
        "clinic-clerk",
        "registration-agent",
        "local-registrar",
        "local-system-admin",
        "hospital-administrator",
    } <= set(cfg.roles)
    assert cfg.custom["Attest"].flags_removed == ["pending-attestation"]
    assert cfg.workqueues["pending-attestation"].query.flags == ["pending-attestation"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda c: c["roles"][0]["scopes"].append("record.regster[event=birth]"),
            "roles[clinic-clerk].scopes: scope 'record.regster[event=birth]': unknown scope name",
        ),
        (
            lambda c: c["roles"][0]["scopes"].append("record.register[event=birth"),
            "roles[clinic-clerk].scopes: scope 'record.register[event=birth'",
        ),
        (
            lambda c: c["roles"][0]["scopes"].append("record.register[colour=red]"),
            "`colour` is not an option of `record.register`",
        ),
        (
            lambda c: c["roles"][0]["scopes"].append("record.register[event=marriage]"),
            "unknown event type `marriage`",
        ),
        (
            lambda c: c["custom_actions"][0].update(flags_removed=["pending-attestaton"]),
            "custom_actions[Attest]: unknown flag `pending-attestaton`",
        ),
        (
            lambda c: c["events"][0]["fields"][0].update(type="colour"),
            "events[birth].fields[child.first_name].type",
        ),
        (
            lambda c: c["events"][0]["fields"][0].update(colour="red"),
            "events[birth].fields[child.first_name]: Object contains unknown field `colour`",
        ),
        (
            lambda c: c["events"][1]["fields"][0].update(pattern="(["),
            "events[death].fields[deceased.first_name].pattern: not a valid regular expression",
        ),
        (
            lambda c: c["workqueues"].append(dict(c["workqueues"][0])),
            "workqueues[my-drafts]: id is used twice",
        ),
        (
            lambda c: c["core_actions"][1]["disable_if"].append({"flag": "nope"}),
            "core_actions[REGISTER].disable_if[3]: unknown flag `nope`",
        ),
        (
            lambda c: c["events"][0].update(title=["child.nickname"]),
            "events[birth].title: unknown field `child.nickname`",
        ),
    ],
)
def test_errors_name_the_entry_and_field(change: Any, expected: str) -> None:
    detail = broken(change)
    assert detail.startswith("country.toml: ")
    assert expected in detail


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text("version = ")
    with pytest.raises(ConfigError, match=r"c\.toml: not valid TOML"):
        load_config(bad)


@pytest.mark.parametrize(
    "text",
    [
        "record.register[event=birth]",
        "record.custom.action[event=death, actionType=Attest]",
        "record.customAction[event=birth actionType=Attest]",
        "workqueue[id:pending-attestation]",
        "record.read[jurisdiction=my-office]",
        "record.read[ event = birth|death , jurisdiction = all ]",
    ],
)
def test_seed_scope_grammar_parses(text: str) -> None:
    assert parse_scope(text).name in (
        "record.register",
        "record.custom.action",
        "workqueue",
        "record.read",
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "record.read[]",
        "record.read[event]",
        "[event=birth]",
        "record.read[event=birth, event=death]",
        "record.read[jurisdiction=mars]",
        "record.read[event=]",
    ],
)
def test_malformed_scopes_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_scope(text)


def test_grants_checks_every_option_and_jurisdiction() -> None:
    def who(*scopes: str) -> Actor:
        return Actor("u", "u", "U", "r", "office-1", tuple(parse_scope(s) for s in scopes))

    u = who("record.register[event=birth, jurisdiction=my-office]")
    assert grants(u, "record.register", office_id="office-1", event="birth")
    assert not grants(u, "record.register", office_id="office-2", event="birth")
    assert not grants(u, "record.register", office_id="office-1", event="death")
    assert not grants(u, "record.print", office_id="office-1", event="birth")
    assert grants(who("record.register"), "record.register", office_id="x", event="death")
    c = who("record.custom.action[event=death, actionType=Attest]")
    assert grants(c, "record.custom.action", event="death", actionType="Attest")
    assert not grants(c, "record.custom.action", event="death", actionType="Escalate")


def test_a_declaration_has_an_informant_addresses_and_a_facility_offered_by_office() -> None:
    """The default birth form is in parts (child, mother, father, informant), with addresses
    and the facility of birth; a facility listed for some offices is offered only on their
    boxes, and the page shows each part's heading."""
    from edge.web.render import environment

    cfg = raw()
    birth = next(e for e in cfg["events"] if e["id"] == "birth")
    facility = next(f for f in birth["fields"] if f["id"] == "child.birth_facility")
    facility["options"][0]["offices"] = ["office-north"]
    event = build_config(cfg, "country.toml").events["birth"]
    assert [f.section for f in event.fields if f.section] == [
        "Child",
        "Mother",
        "Father",
        "Informant",
    ]
    ids = {f.id for f in event.fields}
    assert {"informant.first_name", "informant.relationship", "mother.address.town"} <= ids

    spec = next(f for f in event.fields if f.id == "child.birth_facility")
    field = environment("en").get_template("_field.html")

    def offered(office: str) -> list[str]:
        html = field.render(prefix="f.", f=spec, values={}, errors={}, office_id=office)
        return [o for o in ("district-hospital", "maternity-clinic") if f'value="{o}"' in html]

    assert offered("office-north") == ["district-hospital", "maternity-clinic"]
    assert offered("office-south") == ["maternity-clinic"]
