"""The inventory: one TOML file per fleet, written by `edge-fleet pair` (and `discover`, which
updates addresses by box id), edited by the officer for releases and settings. Boxes are
named by the officer; they are matched by their box id, never by address alone."""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from provisioning.errors import InventoryError

HEADER = """\
# The fleet's inventory, written by `edge-fleet pair` and `edge-fleet discover`.
# Edit `release`, [settings] and each box's settings by hand: docs/provisioning.md.
"""
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
Value = str | int | bool | float


@dataclass
class Box:
    name: str
    box_id: str
    address: str
    port: int = 22
    user: str = "root"
    office_id: str = ""
    paired_at: str = ""
    enrolled: bool = False
    trust: str = "pin"  # or "ca": the box shows a host certificate of the office CA
    release: str = ""  # this box's release, if not the fleet's
    settings: dict[str, Value] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.address}:{self.port}" if self.port != 22 else self.address


@dataclass
class Fleet:
    release: str = ""
    key: str = "~/.ssh/id_ed25519"
    parallel: int = 8
    retries: int = 5
    connect_timeout: int = 15
    health_timeout: int = 120
    country_config: str = ""
    settings: dict[str, Value] = field(default_factory=dict)
    boxes: dict[str, Box] = field(default_factory=dict)

    def release_of(self, box: Box) -> str:
        return box.release or self.release

    def settings_of(self, box: Box) -> dict[str, Value]:
        return {**self.settings, **box.settings}

    def by_id(self, box_id: str) -> Box | None:
        return next((b for b in self.boxes.values() if b.box_id == box_id), None)

    def select(self, names: list[str]) -> list[Box]:
        """The boxes named (all when none), in inventory order; unknown names are an error."""
        unknown = [n for n in names if n not in self.boxes]
        if unknown:
            raise InventoryError(f"no box named {', '.join(unknown)} in the inventory")
        return [b for n, b in self.boxes.items() if not names or n in names]


def _typed(where: str, cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known or key in ("name", "boxes"):
            raise InventoryError(f"{where}: unknown key `{key}`")
        want = known[key].type
        if key == "settings":
            if not isinstance(value, dict):
                raise InventoryError(f"{where}: `settings` must be a table")
            out[key] = value
        elif want in ("int", "bool", "str") and type(value).__name__ != want:
            raise InventoryError(f"{where}: `{key}` must be {_kind(want)}, not {value!r}")
        else:
            out[key] = value
    return out


def _kind(name: str) -> str:
    return {"int": "a whole number", "bool": "true or false", "str": "text"}[name]


def load(path: Path) -> Fleet:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Fleet()
    except tomllib.TOMLDecodeError as exc:
        raise InventoryError(f"{path}: not valid TOML ({exc})") from None
    extra = set(data) - {"fleet", "settings", "boxes"}
    if extra:
        raise InventoryError(f"{path}: unknown table [{sorted(extra)[0]}]")
    fleet = Fleet(**_typed(f"{path} [fleet]", Fleet, data.get("fleet", {})))
    fleet.settings = dict(data.get("settings", {}))
    for name, raw in data.get("boxes", {}).items():
        where = f"{path} [boxes.{name}]"
        if not NAME.match(name):
            raise InventoryError(f"{where}: a box name is lowercase letters, digits and dashes")
        values = _typed(where, Box, raw)
        for needed in ("box_id", "address"):
            if not values.get(needed):
                raise InventoryError(f"{where}: `{needed}` is missing")
        if values.get("trust", "pin") not in ("pin", "ca"):
            raise InventoryError(f"{where}: `trust` is `pin` or `ca`")
        fleet.boxes[name] = Box(name=name, **values)
    return fleet


def _value(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    return json.dumps(v, ensure_ascii=False)


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _table(header: str, values: dict[str, Any]) -> list[str]:
    lines = [f"[{header}]"]
    lines += [f"{_key(k)} = {_value(v)}" for k, v in values.items() if v not in ("", None)]
    return [*lines, ""]


def dump(fleet: Fleet) -> str:
    top = {f.name: getattr(fleet, f.name) for f in fields(Fleet)}
    plain = {k: v for k, v in top.items() if k not in ("settings", "boxes")}
    out = [HEADER, *_table("fleet", plain)]
    out += _table("settings", fleet.settings)
    for name, box in fleet.boxes.items():
        values = {f.name: getattr(box, f.name) for f in fields(Box)}
        plain = {k: v for k, v in values.items() if k not in ("name", "settings")}
        out += _table(f"boxes.{_key(name)}", plain)
        if box.settings:
            out += _table(f"boxes.{_key(name)}.settings", box.settings)
    return "\n".join(out)


def save(path: Path, fleet: Fleet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump(fleet), encoding="utf-8")
    os.replace(tmp, path)


def name_for(wanted: str, fleet: Fleet) -> str:
    """A free inventory name made from what the officer typed or the office's name."""
    base = re.sub(r"[^a-z0-9]+", "-", wanted.lower()).strip("-")[:50] or "box"
    name, n = base, 2
    while name in fleet.boxes:
        name, n = f"{base}-{n}", n + 1
    return name
