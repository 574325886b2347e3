"""The country configuration: events and forms, flags, custom actions, workqueues, roles.

It is data (TOML), validated at startup; every error names the file, the entry and the field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal, NoReturn

import msgspec

from edge.errors import ConfigError
from edge.workflow.documents import DocumentType, index_types
from edge.workflow.model import CORE_FLAG_LABELS, ActionType, Status
from edge.workflow.scopes import Scope, parse_scope

FieldType = Literal["text", "textarea", "date", "number", "select", "boolean"]


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    pass


class Option(_Strict):
    value: str
    label: str
    offices: list[str] = []  # offered only on these offices' boxes; empty: everywhere


class FieldSpec(_Strict):
    id: str
    label: str
    type: FieldType = "text"
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: str | None = None
    min: float | None = None
    max: float | None = None
    options: list[Option] = []
    not_in_future: bool = False
    help: str = ""
    section: str = ""  # starts a part of the form: the heading shown above this field


class FieldAge(_Strict):
    field: str
    days: int


class Condition(_Strict):
    """All given keys must hold. Used by flag rules (`when`) and `disable_if`."""

    event: list[str] | None = None
    actor_role: list[str] | None = None
    actor_has_scope: str | None = None
    flag: str | None = None
    not_flag: str | None = None
    status: list[Status] | None = None
    field_older_than: FieldAge | None = None
    reason: str | None = None


class FlagRule(_Strict):
    add: str | None = None
    remove: str | None = None
    when: Condition = msgspec.field(default_factory=Condition)


class CoreActionConfig(_Strict):
    type: ActionType
    flag_rules: list[FlagRule] = []
    disable_if: list[Condition] = []
    # PRINT only: a copy's fee as people read it ("10.00 ILS"), issued against its receipt.
    fee: str = ""


class CustomAction(_Strict):
    id: str
    name: str
    audit_copy: str
    required_statuses: list[Status]
    icon: str = ""
    scope: str = "record.custom.action"
    events: list[str] = []
    required_flags: list[str] = []
    disable_if: list[Condition] = []
    dialog_copy: str = ""
    dialog_form: list[FieldSpec] = []
    flags_added: list[str] = []
    flags_removed: list[str] = []


class FlagSpec(_Strict):
    id: str
    label: str


class EventType(_Strict):
    id: str
    label: str
    fields: list[FieldSpec]
    title: list[str] = []
    duplicate_keys: list[str] = []
    # The event's own date field, shown in the lists (default: its first date field).
    date_field: str = ""

    @property
    def event_date_field(self) -> str:
        if self.date_field:
            return self.date_field
        return next((f.id for f in self.fields if f.type == "date"), "")


class WorkqueueQuery(_Strict):
    status: list[Status] | None = None
    flags: list[str] = []
    flags_absent: list[str] = []
    assigned: Literal["me", "nobody", "anyone", "others"] = "anyone"
    created_by: Literal["me", "anyone"] = "anyone"
    event: list[str] | None = None


class Workqueue(_Strict):
    id: str
    label: str
    query: WorkqueueQuery = msgspec.field(default_factory=WorkqueueQuery)
    home: bool = False  # where its users land when every queue of theirs is empty


class Role(_Strict):
    id: str
    label: str
    scopes: list[str]


class CountryConfig(_Strict):
    version: str
    events: list[EventType]
    roles: list[Role]
    flags: list[FlagSpec] = []
    core_actions: list[CoreActionConfig] = []
    custom_actions: list[CustomAction] = []
    workqueues: list[Workqueue] = []
    documents: list[DocumentType] = []


@dataclass
class Config:
    """A validated country configuration, indexed for the engine."""

    source: str
    version: str
    events: dict[str, EventType]
    fields: dict[str, dict[str, FieldSpec]]
    flags: dict[str, str]
    core: dict[ActionType, CoreActionConfig]
    custom: dict[str, CustomAction]
    custom_scopes: dict[str, Scope]
    workqueues: dict[str, Workqueue]
    roles: dict[str, Role]
    role_scopes: dict[str, tuple[Scope, ...]] = field(default_factory=dict)
    documents: dict[str, dict[str, DocumentType]] = field(default_factory=dict)  # by event

    def flag_label(self, flag: str) -> str:
        return self.flags.get(flag, flag)


_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def default_config_path() -> Path:
    return Path(str(resources.files("edge.workflow") / "default_config.toml"))


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a country configuration (the built-in default when path is empty)."""
    source = Path(path) if path else default_config_path()
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{source}: cannot be read ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    return build_config(raw, str(source))


def build_config(raw: object, source: str = "<config>") -> Config:
    """Validate a parsed configuration; raise ConfigError naming file, entry and field."""
    try:
        cc = msgspec.convert(raw, CountryConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_readable_path(str(exc), raw)}") from None
    return _Checker(cc, source).run()


def _readable_path(message: str, raw: object) -> str:
    # msgspec says "... - at `$.events[0].fields[2]`"; add the entry ids so people find it.
    m = re.search(r" - at `\$(.*)`$", message)
    if not m:
        return message
    where, node, parts = m.group(1), raw, []
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", where):
        if name:
            parts.append(name)
            node = node.get(name) if isinstance(node, dict) else None
        else:
            node = node[int(index)] if isinstance(node, list) and int(index) < len(node) else None
            label = node.get("id") or node.get("type") if isinstance(node, dict) else None
            parts[-1] += f"[{label}]" if label else f"[{index}]"
    return f"{'.'.join(parts)}: {message[: m.start()]}"


class _Checker:
    def __init__(self, cc: CountryConfig, source: str) -> None:
        self.cc, self.source = cc, source

    def fail(self, where: str, message: str) -> NoReturn:
        raise ConfigError(f"{self.source}: {where}: {message}")

    def unique(self, kind: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for i in ids:
            if not _ID.match(i):
                self.fail(f"{kind}[{i}]", "id may use letters, digits, '.', '_' and '-' only")
            if i in seen:
                self.fail(f"{kind}[{i}]", "id is used twice")
            seen.add(i)

    def run(self) -> Config:
        cc = self.cc
        for kind, items in (
            ("events", cc.events),
            ("flags", cc.flags),
            ("roles", cc.roles),
            ("custom_actions", cc.custom_actions),
            ("workqueues", cc.workqueues),
        ):
            self.unique(kind, [x.id for x in items])
        flags = {str(k): v for k, v in CORE_FLAG_LABELS.items()}
        for flag in cc.flags:
            if flag.id in flags:
                self.fail(f"flags[{flag.id}]", "is a core flag and cannot be configured again")
            flags[flag.id] = flag.label
        events = {e.id: e for e in cc.events}
        fields_by_event: dict[str, dict[str, FieldSpec]] = {}
        for e in cc.events:
            where = f"events[{e.id}]"
            self.unique(f"{where}.fields", [f.id for f in e.fields])
            fields_by_event[e.id] = {f.id: f for f in e.fields}
            for f in e.fields:
                self.check_field(f"{where}.fields[{f.id}]", f)
            for key in ("title", "duplicate_keys"):
                for fid in getattr(e, key):
                    if fid not in fields_by_event[e.id]:
                        self.fail(f"{where}.{key}", f"unknown field `{fid}`")
            dated = fields_by_event[e.id].get(e.date_field)
            if e.date_field and (dated is None or dated.type != "date"):
                self.fail(f"{where}.date_field", f"`{e.date_field}` is not a date field")
        ctx = _Refs(self, set(events), set(flags), fields_by_event)
        core: dict[ActionType, CoreActionConfig] = {}
        for c in cc.core_actions:
            where = f"core_actions[{c.type}]"
            if c.type in core:
                self.fail(where, "configured twice")
            if c.type is ActionType.CUSTOM:
                self.fail(where, "CUSTOM is not a core action; use custom_actions")
            core[c.type] = c
            if c.fee and c.type is not ActionType.PRINT:
                self.fail(f"{where}.fee", "only PRINT takes a fee")
            if len(c.fee) > 40:
                self.fail(f"{where}.fee", "at most 40 characters")
            for i, rule in enumerate(c.flag_rules):
                self.check_rule(f"{where}.flag_rules[{i}]", rule, ctx)
            for i, cond in enumerate(c.disable_if):
                ctx.condition(f"{where}.disable_if[{i}]", cond)
        custom_names = frozenset(
            a.scope
            for a in cc.custom_actions
            if "." in a.scope and not a.scope.startswith("record.")
        )
        custom_scopes: dict[str, Scope] = {}
        for a in cc.custom_actions:
            where = f"custom_actions[{a.id}]"
            custom_scopes[a.id] = self.scope(where + ".scope", a.scope, custom_names)
            for ev in a.events:
                ctx.event(f"{where}.events", ev)
            for fl in (*a.required_flags, *a.flags_added, *a.flags_removed):
                ctx.flag(where, fl)
            if not a.required_statuses:
                self.fail(f"{where}.required_statuses", "name at least one status")
            for i, cond in enumerate(a.disable_if):
                ctx.condition(f"{where}.disable_if[{i}]", cond)
            self.unique(f"{where}.dialog_form", [f.id for f in a.dialog_form])
            for f in a.dialog_form:
                self.check_field(f"{where}.dialog_form[{f.id}]", f)
        for w in cc.workqueues:
            for fl in (*w.query.flags, *w.query.flags_absent):
                ctx.flag(f"workqueues[{w.id}].query", fl)
            for ev in w.query.event or []:
                ctx.event(f"workqueues[{w.id}].query.event", ev)
        role_scopes: dict[str, tuple[Scope, ...]] = {}
        for r in cc.roles:
            scopes = tuple(self.scope(f"roles[{r.id}].scopes", s, custom_names) for s in r.scopes)
            for s in scopes:
                self.check_scope_refs(f"roles[{r.id}].scopes", s, ctx)
            role_scopes[r.id] = scopes
        for c in cc.core_actions:
            for i, rule in enumerate(c.flag_rules):
                for role in rule.when.actor_role or []:
                    if role not in role_scopes:
                        self.fail(
                            f"core_actions[{c.type}].flag_rules[{i}].when.actor_role",
                            f"unknown role `{role}`",
                        )
        return Config(
            self.source,
            cc.version,
            events,
            fields_by_event,
            flags,
            core,
            {a.id: a for a in cc.custom_actions},
            custom_scopes,
            {w.id: w for w in cc.workqueues},
            {r.id: r for r in cc.roles},
            role_scopes,
            index_types(cc.documents, events, self.fail),
        )

    def scope(self, where: str, text: str, custom_names: frozenset[str]) -> Scope:
        try:
            return parse_scope(text, custom_names=custom_names)
        except ConfigError as exc:
            self.fail(where, exc.detail)

    def check_scope_refs(self, where: str, scope: Scope, ctx: _Refs) -> None:
        for ev in scope.option("event") or ():
            ctx.event(f"{where} `{scope}`", ev)
        for wq in scope.option("id") or ():
            if wq not in {w.id for w in self.cc.workqueues}:
                self.fail(f"{where} `{scope}`", f"unknown workqueue `{wq}`")
        for action in scope.option("actionType") or ():
            if action not in {a.id for a in self.cc.custom_actions}:
                self.fail(f"{where} `{scope}`", f"unknown custom action `{action}`")

    def check_rule(self, where: str, rule: FlagRule, ctx: _Refs) -> None:
        if (rule.add is None) == (rule.remove is None):
            self.fail(where, "give exactly one of `add` or `remove`")
        ctx.flag(where, rule.add or rule.remove or "")
        ctx.condition(f"{where}.when", rule.when)

    def check_field(self, where: str, f: FieldSpec) -> None:
        if f.type == "select" and not f.options:
            self.fail(where, "a select field needs `options`")
        if f.pattern is not None:
            try:
                re.compile(f.pattern)
            except re.error as exc:
                self.fail(f"{where}.pattern", f"not a valid regular expression ({exc})")
        if f.not_in_future and f.type != "date":
            self.fail(f"{where}.not_in_future", "applies to date fields only")


@dataclass
class _Refs:
    checker: _Checker
    events: set[str]
    flags: set[str]
    fields: dict[str, dict[str, FieldSpec]]

    def event(self, where: str, ev: str) -> None:
        if ev not in self.events:
            self.checker.fail(where, f"unknown event type `{ev}`")

    def flag(self, where: str, fl: str) -> None:
        if fl not in self.flags:
            self.checker.fail(where, f"unknown flag `{fl}` (declare it under [[flags]])")

    def condition(self, where: str, c: Condition) -> None:
        for ev in c.event or []:
            self.event(f"{where}.event", ev)
        for fl in (c.flag, c.not_flag):
            if fl is not None:
                self.flag(where, fl)
        if c.actor_has_scope is not None:
            self.checker.scope(f"{where}.actor_has_scope", c.actor_has_scope, frozenset())
        if c.field_older_than is not None:
            fid = c.field_older_than.field
            dates = [fs for per_event in self.fields.values() if (fs := per_event.get(fid))]
            if not dates:
                self.checker.fail(f"{where}.field_older_than", f"unknown field `{fid}`")
            if any(fs.type != "date" for fs in dates):
                self.checker.fail(f"{where}.field_older_than", f"`{fid}` is not a date field")
