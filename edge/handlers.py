"""The one place where errors become answers: a page for a person using the office pages, an
RFC 9457 problem document for the API (datasette's `handle_exception`). The status comes from
the error class (edge/errors.py); nothing else decides it."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from edge.errors import EdgeError, FieldProblem, InvalidInput, Unauthenticated
from edge.http import problems
from edge.web.context import EarlyResponse
from edge.web.errors import error_page, http_error_page, login_first

log = logging.getLogger("edge.http")
TOO_DEEP = InvalidInput([FieldProblem("body", "depth", "is nested too deeply to be read")])
# Paths answered for programs (JSON); every other path is a page for people.
API_PATHS = ("/api/", "/healthz", "/readyz", "/metrics")


def for_program(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith(API_PATHS)


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any error raised while answering a request."""
    if isinstance(exc, EarlyResponse):
        return exc.response
    if for_program(request):
        return _problem(request, exc)
    if isinstance(exc, Unauthenticated):
        return login_first(request)
    if isinstance(exc, EdgeError):
        if exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.detail)
        return error_page(request, exc.status, exc.title, exc.detail)
    if isinstance(exc, HTTPException):
        return http_error_page(request, exc.status_code)
    if isinstance(exc, RecursionError):
        return http_error_page(request, 400)
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return http_error_page(request, 500)


def _problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, RecursionError):  # a body nested thousands deep, from decoding it
        return problems.edge_error(request, TOO_DEEP)
    if isinstance(exc, EdgeError):
        return problems.edge_error(request, exc)
    if isinstance(exc, ValidationException):
        return problems.validation_error(request, exc)
    if isinstance(exc, HTTPException):
        return problems.http_error(request, exc)
    return problems.unexpected_error(request, exc)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {Exception: handle}
