"""Errors as RFC 9457 problem details, the API's answers (edge/handlers.py chooses them)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from litestar import Controller, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from edge.errors import EdgeError, InvalidInput
from edge.http.schemas import Problem

log = logging.getLogger("edge.http")
PROBLEM = "application/problem+json"


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=Problem, media_type=PROBLEM, description=description)


# What every API route may answer besides its success, for the OpenAPI description.
ERROR_RESPONSES = {
    400: _spec("The request could not be read (what is wrong is said)"),
    401: _spec("Not logged in, or the API token is not valid"),
    403: _spec("The user's role does not allow this"),
    404: _spec("No such thing on this box, or the user may not see it"),
    409: _spec("Not possible on this record now (the reason is said)"),
    422: _spec("Some input is not valid: each field with the rule it broke"),
    503: _spec("The box cannot do it at this moment (locked, busy): try again"),
    507: _spec("The box's storage is full: nothing was changed"),
}


def document_errors(handlers: Iterable[Any]) -> None:
    """Add the problem answers to each API route's OpenAPI description."""
    for handler in handlers:
        if isinstance(handler, HTTPRouteHandler):
            handler.responses = {**ERROR_RESPONSES, **(handler.responses or {})}
        elif isinstance(handler, type) and issubclass(handler, Controller):
            document_errors(vars(handler).values())


def _problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> Response[Any]:
    body = {
        "type": f"tag:edge-box,2026:{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return Response(body, status_code=status, media_type=PROBLEM)


def _slug(exc: Exception) -> str:
    name = type(exc).__name__
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


def edge_error(request: Request[Any, Any, Any], exc: EdgeError) -> Response[Any]:
    extra: dict[str, Any] = {}
    if isinstance(exc, InvalidInput):
        extra["errors"] = [
            {"field": p.field, "rule": p.rule, "message": p.message} for p in exc.problems
        ]
    if exc.status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc.detail)
    return _problem(exc.status, exc.title, exc.detail, _slug(exc), **extra)


def validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            field, message = _field_of(item)
            errors.append({"field": field, "rule": "invalid", "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
    return _problem(400, "The request is not valid", detail, "bad-request", errors=errors)


_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_NAMED = re.compile(r"field `(?P<name>[^`]+)`")


def _field_of(item: dict[str, Any]) -> tuple[str, str]:
    """The field a body or parameter error is about; msgspec names it inside its message."""
    message = str(item.get("message", "is not valid"))
    field = str(item.get("key") or item.get("source") or "body")
    at = _AT.search(message)
    if at:
        message = message[: at.start()]
        field = at["path"] or field
    elif field == "data" and (named := _NAMED.search(message)):
        field = named["name"]
    return field, message


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    title = "The request is not valid" if exc.status_code == 400 else str(exc.detail)
    return _problem(exc.status_code, title, str(exc.detail), "http-error")


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _problem(
        500,
        "Something went wrong on the box",
        "The box could not finish this request, so nothing was changed by it. "
        "Try again; if it keeps happening, tell IT staff.",
        "internal-error",
    )
