"""Validation of form values (declarations and dialog forms) against configured fields."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from edge.errors import FieldProblem
from edge.workflow.config import FieldSpec


def check_values(
    values: dict[str, Any], specs: dict[str, FieldSpec], prefix: str, today: date
) -> list[FieldProblem]:
    """Problems with the given values: unknown fields, wrong types, broken rules."""
    problems: list[FieldProblem] = []
    for key, value in values.items():
        spec = specs.get(key)
        name = f"{prefix}.{key}"
        if spec is None:
            problems.append(FieldProblem(name, "unknown_field", "is not a field of this form"))
        elif value is not None and value != "":
            problem = _check_one(spec, value, today)
            if problem:
                problems.append(FieldProblem(name, *problem))
    return problems


def missing_required(
    values: dict[str, Any], specs: dict[str, FieldSpec], prefix: str
) -> list[FieldProblem]:
    """One problem per required field that has no value."""
    return [
        FieldProblem(f"{prefix}.{spec.id}", "required", f"{spec.label} is required")
        for spec in specs.values()
        if spec.required and values.get(spec.id) in (None, "")
    ]


# Control characters have no place in a record: NUL and friends break other systems and hide
# text. A multi-line field (textarea) may hold line breaks and tabs.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f]")
Problem = tuple[str, str] | None


def has_control_characters(text: str, multiline: bool = False) -> bool:
    """Whether text holds characters people cannot type or see (NUL, escape codes, …)."""
    return bool((_CONTROL if multiline else _CONTROL_ONE_LINE).search(text))


def _text(spec: FieldSpec, value: Any, today: date) -> Problem:
    label = spec.label
    if not isinstance(value, str):
        return "type", f"{label} must be text"
    if has_control_characters(value, multiline=spec.type == "textarea"):
        return "characters", f"{label} contains characters that cannot be typed (control codes)"
    if spec.min_length is not None and len(value) < spec.min_length:
        return "min_length", f"{label} must be at least {spec.min_length} characters"
    if spec.max_length is not None and len(value) > spec.max_length:
        return "max_length", f"{label} must be at most {spec.max_length} characters"
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        return "pattern", spec.pattern_message or f"{label} is not in the expected format"
    return None


def _date(spec: FieldSpec, value: Any, today: date) -> Problem:
    wrong = "type", f"{spec.label} must be a date like 2024-03-31"
    if not isinstance(value, str) or len(value) != 10:
        return wrong
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return wrong
    if spec.not_in_future and day > today:
        return "not_in_future", f"{spec.label} cannot be in the future"
    return None


def _number(spec: FieldSpec, value: Any, today: date) -> Problem:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "type", f"{spec.label} must be a number"
    if spec.min is not None and value < spec.min:
        return "min", f"{spec.label} must be at least {spec.min:g}"
    if spec.max is not None and value > spec.max:
        return "max", f"{spec.label} must be at most {spec.max:g}"
    return None


def _select(spec: FieldSpec, value: Any, today: date) -> Problem:
    if not isinstance(value, str) or value not in {o.value for o in spec.options}:
        allowed = ", ".join(o.value for o in spec.options)
        return "options", f"{spec.label} must be one of: {allowed}"
    return None


def _boolean(spec: FieldSpec, value: Any, today: date) -> Problem:
    return None if isinstance(value, bool) else ("type", f"{spec.label} must be true or false")


_CHECKS: dict[str, Callable[[FieldSpec, Any, date], Problem]] = {
    "text": _text,
    "textarea": _text,
    "date": _date,
    "number": _number,
    "select": _select,
    "boolean": _boolean,
}


def _check_one(spec: FieldSpec, value: Any, today: date) -> Problem:
    check = _CHECKS.get(spec.type)
    return check(spec, value, today) if check else None
