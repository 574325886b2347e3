"""One error tree for the box; each class carries the HTTP status it maps to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    """One invalid input: which field, which rule it broke, and a sentence for people."""

    field: str
    rule: str
    message: str


class EdgeError(Exception):
    """Base of every error the box raises on purpose."""

    status = 500
    title = "Something went wrong on the box"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(EdgeError):
    """The request broke one or more input rules; nothing was changed."""

    status = 422
    title = "Some of the information is not valid"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class LoginRefused(EdgeError):
    """A login (or the current password given to change it) was refused; `reason` says why
    in a word (`wrong`, `locked`, `offline_expired`), `minutes` how long a lock lasts."""

    status = 401
    title = "Login failed"

    def __init__(
        self, detail: str, reason: str, minutes: int | None = None, said: str = ""
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.minutes = minutes
        self.said = said  # a deactivated user: the reason their admin gave


class Unauthenticated(EdgeError):
    status = 401
    title = "Please log in"


class Forbidden(EdgeError):
    status = 403
    title = "You are not allowed to do this"


class NotFound(EdgeError):
    status = 404
    title = "Not found"


class ActionNotAvailable(EdgeError):
    """The action exists and the user may do it in general, but not on this record now."""

    status = 409
    title = "This action is not available on the record right now"


class RecordTakenElsewhere(EdgeError):
    """The registry revoked this box's lease on the record: it is read-only here."""

    status = 409
    title = "This record is being worked on at another office"


class KeyReused(EdgeError):
    """An idempotency key already used for another request by the same user."""

    status = 422
    title = "This idempotency key was used for another request"


class StorageFull(EdgeError):
    status = 507
    title = "The box's storage is full"


class SettingsError(EdgeError):
    """A setting is missing or invalid; startup stops."""

    title = "Invalid settings"


class ConfigError(EdgeError):
    """The country configuration is invalid; startup stops."""

    title = "Invalid country configuration"


class BoxLocked(EdgeError):
    """The journal is encrypted and no key slot has been opened since the box started."""

    status = 503
    title = "The box is locked"
