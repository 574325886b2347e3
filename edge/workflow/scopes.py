"""Scopes with seed 001's grammar: `name[key=value, key=value]`.

Examples: `record.register[event=birth]`, `record.custom.action[event=death, actionType=Attest]`,
`workqueue[id:pending-attestation]`, `record.read[jurisdiction=my-office]`. Options are
separated by commas or spaces, `=` and `:` both bind a key to its value, and `a|b` lists
several values. A scope without an option grants it for every value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.errors import ConfigError

if TYPE_CHECKING:
    from edge.workflow.model import Actor

_RECORD = frozenset({"event", "jurisdiction"})
_USER = frozenset({"jurisdiction", "role"})

# Every scope name the box understands, with the options each accepts.
KNOWN_SCOPES: dict[str, frozenset[str]] = {
    "record.create": _RECORD,
    "record.read": _RECORD,
    "record.notify": _RECORD,
    "record.declare": _RECORD,
    "record.review-duplicates": _RECORD,
    "record.archive": _RECORD,
    "record.reject": _RECORD,
    "record.register": _RECORD,
    "record.correct": _RECORD,
    "record.correction.review": _RECORD,
    "record.print": _RECORD,
    "record.assign": _RECORD,
    "record.unassign-others": _RECORD,
    "record.custom.action": _RECORD | {"actionType"},
    "workqueue": frozenset({"id"}),
    "user.read": _USER,
    "user.create": _USER,
    "user.edit": _USER,
    "user.deactivate": _USER,
    "user.reactivate": _USER,
    "user.reset-password": _USER,
    "user.send-username-reminder": _USER,
}
# Spellings found in the OpenCRVS documentation for the same scope.
ALIASES = {
    "record.customAction": "record.custom.action",
    "record.custom-action": "record.custom.action",
}
JURISDICTIONS = frozenset({"my-office", "all"})

_SHAPE = re.compile(r"^\s*(?P<name>[A-Za-z][\w.-]*)\s*(?:\[(?P<opts>[^\[\]]*)\])?\s*$")
_OPTION = re.compile(r"^(?P<key>[A-Za-z][\w-]*)[=:](?P<value>[^=:]+)$")


@dataclass(frozen=True)
class Scope:
    name: str
    options: tuple[tuple[str, frozenset[str]], ...] = ()

    def option(self, key: str) -> frozenset[str] | None:
        for k, values in self.options:
            if k == key:
                return values
        return None

    def __str__(self) -> str:
        if not self.options:
            return self.name
        inner = ", ".join(f"{k}={'|'.join(sorted(v))}" for k, v in self.options)
        return f"{self.name}[{inner}]"


def parse_scope(text: str, *, custom_names: frozenset[str] = frozenset()) -> Scope:
    """Parse one scope; raise ConfigError naming the scope and what is wrong with it."""
    m = _SHAPE.match(text) if isinstance(text, str) else None
    if not m:
        raise ConfigError(f"scope {text!r}: expected `name` or `name[key=value, ...]`")
    name = ALIASES.get(m["name"], m["name"])
    allowed = KNOWN_SCOPES.get(name)
    if allowed is None:
        if name not in custom_names:
            raise ConfigError(f"scope {text!r}: unknown scope name `{m['name']}`")
        allowed = _RECORD | {"actionType"}
    options: dict[str, frozenset[str]] = {}
    raw = (m["opts"] or "").strip()
    if m["opts"] is not None and not raw:
        raise ConfigError(f"scope {text!r}: empty brackets")
    if raw:
        raw = re.sub(r"\s*([=:])\s*", r"\1", raw)
        for token in re.split(r"[,\s]+", raw):
            if not token:
                continue
            om = _OPTION.match(token)
            if not om:
                raise ConfigError(f"scope {text!r}: option `{token}` is not `key=value`")
            key = om["key"]
            if key not in allowed:
                raise ConfigError(
                    f"scope {text!r}: `{key}` is not an option of `{name}` "
                    f"(allowed: {', '.join(sorted(allowed))})"
                )
            if key in options:
                raise ConfigError(f"scope {text!r}: option `{key}` given twice")
            values = frozenset(v for v in om["value"].split("|"))
            if "" in values:
                raise ConfigError(f"scope {text!r}: option `{key}` has an empty value")
            if key == "jurisdiction" and not values <= JURISDICTIONS:
                raise ConfigError(f"scope {text!r}: jurisdiction must be my-office or all")
            options[key] = values
    return Scope(name, tuple(sorted(options.items())))


def grants(actor: Actor, name: str, *, office_id: str | None = None, **context: str) -> bool:
    """True when one of the actor's scopes grants `name` in this context.

    `office_id` is the record's office, checked against `jurisdiction=my-office`.
    Every other option of the scope must contain the context's value for that key.
    """
    for scope in actor.scopes:
        if scope.name != name:
            continue
        if _matches(scope, actor, office_id, context):
            return True
    return False


def _matches(scope: Scope, actor: Actor, office_id: str | None, context: dict[str, str]) -> bool:
    for key, values in scope.options:
        if key == "jurisdiction":
            if "all" in values:
                continue
            if office_id is not None and office_id != actor.office_id:
                return False
        elif context.get(key) not in values:
            return False
    return True
