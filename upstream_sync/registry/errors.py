"""The reference registry's errors, each carrying its HTTP status, and the one place that
turns them (and anything unexpected) into RFC 9457 problem details."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

log = logging.getLogger("upstream_sync.registry")
PROBLEM = "application/problem+json"


class RegistryError(Exception):
    """Base of every error the registry raises on purpose."""

    status = 500
    title = "Something went wrong on the registry"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadMessage(RegistryError):
    """The body could not be read as the message the endpoint takes."""

    status = 422
    title = "The message is not valid"


class TooLarge(RegistryError):
    """A body that is, or inflates to, more than the registry takes."""

    status = 413
    title = "The message is too large"


class Unsigned(RegistryError):
    status = 401
    title = "The request is not signed by an enrolled box"


class NotEnrolledBox(Unsigned):
    """The box id is not one the registry enrolled."""


class BadSignature(Unsigned):
    """Signed, but not by the key the box enrolled (forged, or the body changed)."""


class AdminOnly(RegistryError):
    status = 401
    title = "The registry's admin API needs its admin token"


class TokenRefused(RegistryError):
    """An enrollment token that is unknown, spent or expired, or a key enrolled already."""

    status = 403
    title = "The registry refused the enrollment"


class UnknownRecord(RegistryError):
    status = 404
    title = "The registry has no such record"


class UnknownBox(RegistryError):
    status = 404
    title = "No such box is enrolled with the registry"


class NotOffered(RegistryError):
    """A capability this registry has turned off (its `capabilities` setting)."""

    status = 404
    title = "This registry does not offer this"


class BoxRevoked(RegistryError):
    """The registry's operator reported the box stolen: its unlock secret is refused."""

    status = 403
    title = "This box was reported stolen: unlock it by a staff login only"

    def __init__(self, detail: str, box_id: str, who: str) -> None:
        super().__init__(detail)
        self.box_id, self.who = box_id, who


class NoUnlockKey(RegistryError):
    """A box asks for its unlock secret without having registered an unlock key."""

    status = 401
    title = "This box registered no unlock key"


class TooManyRequests(RegistryError):
    status = 429
    title = "Too many requests from this box"


class Replayed(RegistryError):
    status = 409
    title = "This request was already received (a replay)"


class OutOfTurn(RegistryError):
    """A pipelined batch whose batch before it did not arrive in time (lost on the way)."""

    status = 409
    title = "An earlier batch from this box has not arrived"


class UnsupportedProtocol(RegistryError):
    status = 426
    title = "Unsupported sync protocol version"


class RegistrySettingsError(RegistryError):
    """A setting is invalid; startup stops."""

    title = "Invalid registry settings"


class SchemaMismatch(RegistryError):
    """The database was made by another version of the registry, which does not migrate."""

    title = "The registry's database is of another version"


def _problem(status: int, title: str, detail: str, slug: str) -> Response[Any]:
    body = {"type": f"tag:edge-registry,2026:{slug}", "title": title, "status": status}
    return Response({**body, "detail": detail}, status_code=status, media_type=PROBLEM)


def _slug(exc: Exception) -> str:
    return "".join("-" + c.lower() if c.isupper() else c for c in type(exc).__name__).lstrip("-")


def problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any error as a problem document, in the registry's words."""
    if isinstance(exc, RegistryError):
        if exc.status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.detail)
        return _problem(exc.status, exc.title, exc.detail, _slug(exc))
    if isinstance(exc, ValidationException):
        items = exc.extra if isinstance(exc.extra, list) else []
        said = [str(i.get("message")) for i in items if isinstance(i, dict) and i.get("message")]
        return _problem(
            400, "The request is not valid", "; ".join(said) or str(exc.detail), "bad-request"
        )
    if isinstance(exc, HTTPException):
        return _problem(exc.status_code, str(exc.detail), str(exc.detail), "http-error")
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _problem(
        500,
        RegistryError.title,
        "The registry could not finish this request, so nothing was changed by it. Try again; "
        "if it keeps happening, tell the registry's operator.",
        "internal-error",
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {Exception: problem}
