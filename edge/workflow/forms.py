"""Validation of form values (declarations and dialog forms) against configured fields."""

from __future__ import annotations

import re
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


def _check_one(spec: FieldSpec, value: Any, today: date) -> tuple[str, str] | None:
    label = spec.label
    if spec.type in ("text", "textarea"):
        if not isinstance(value, str):
            return "type", f"{label} must be text"
        if spec.min_length is not None and len(value) < spec.min_length:
            return "min_length", f"{label} must be at least {spec.min_length} characters"
        if spec.max_length is not None and len(value) > spec.max_length:
            return "max_length", f"{label} must be at most {spec.max_length} characters"
        if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
            return "pattern", spec.pattern_message or f"{label} is not in the expected format"
    elif spec.type == "date":
        if not isinstance(value, str):
            return "type", f"{label} must be a date like 2024-03-31"
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return "type", f"{label} must be a date like 2024-03-31"
        if len(value) != 10:
            return "type", f"{label} must be a date like 2024-03-31"
        if spec.not_in_future and day > today:
            return "not_in_future", f"{label} cannot be in the future"
    elif spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "type", f"{label} must be a number"
        if spec.min is not None and value < spec.min:
            return "min", f"{label} must be at least {spec.min:g}"
        if spec.max is not None and value > spec.max:
            return "max", f"{label} must be at most {spec.max:g}"
    elif spec.type == "select":
        if value not in {o.value for o in spec.options}:
            allowed = ", ".join(o.value for o in spec.options)
            return "options", f"{label} must be one of: {allowed}"
    elif spec.type == "boolean" and not isinstance(value, bool):
        return "type", f"{label} must be true or false"
    return None
