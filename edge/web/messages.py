"""Texts for people in their language: the engine's reasons, errors, a field's problem, why a
login was refused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edge.clock import parse_iso, utcnow
from edge.errors import EdgeError, FieldProblem, InvalidInput, LoginRefused
from edge.journal.syncstages import StageStatus
from edge.texts import Text
from edge.web.i18n import translations
from edge.workflow.config import FieldSpec
from edge.workflow.model import FORM_LABELS

if TYPE_CHECKING:  # the page context uses these texts, and these texts its type
    from edge.web.context import Ctx


def say(ctx: Ctx, message: str) -> str:
    """A text made outside the pages (an engine's reason, an error's details) in the user's
    language: a `tr(...)` text with its values, or a fixed text the catalog knows; any other
    text (a registry's own words) as it is."""
    catalog = translations(ctx.lang.code)
    if not isinstance(message, Text):
        return catalog.gettext(message) if message else message
    values = {k: catalog.gettext(v) if v else v for k, v in message.values.items()}
    try:
        return catalog.gettext(message.template) % values
    except (KeyError, ValueError, TypeError):  # a translation that lost a placeholder
        return str(message)


def sentence(text: str) -> str:
    """A text shown on its own (a cell of the outbox), starting with a capital: the sync
    worker's errors are written to follow "last error:" in the logs."""
    return text[:1].upper() + text[1:]


def error_text(ctx: Ctx, exc: EdgeError) -> str:
    """An error for people, in the user's language; details nobody translated (a registry's
    own words) follow the translated title."""
    detail = say(ctx, exc.detail)
    if ctx.lang.code == "en" or isinstance(exc.detail, Text) or detail != exc.detail:
        return detail
    return f"{ctx._(exc.title)}: {detail}"


def menu_reason(ctx: Ctx, reason: str | None) -> str | None:
    """The engine's reason for a disabled action, in the user's language."""
    return say(ctx, reason) if reason else None


def field_errors(ctx: Ctx, exc: InvalidInput, event_id: str) -> dict[str, str]:
    """Each problem as a sentence in the user's language, keyed by the form field."""
    specs = ctx.state.config.fields.get(event_id, {})
    documents = ctx.state.config.documents.get(event_id, {})
    out: dict[str, str] = {}
    for p in exc.problems:
        # Keyed by the form control's id: f.<field> in a declaration, d.<key> in a dialog,
        # doc.<type> for a supporting document.
        kind, _, key = p.field.partition(".")
        spec = specs.get(key) if kind == "declaration" else None
        prefix = {"declaration": "f.", "form": "d.", "documents": "doc."}.get(kind, "")
        element = prefix + key if key else p.field
        label = ctx._(spec.label) if spec else ctx._(FORM_LABELS.get(key, key.capitalize()))
        if kind == "documents" and key in documents:
            label = ctx._(documents[key].label)
        if p.rule == "gone":
            out[element] = say(ctx, p.message)
            continue
        out[element] = _problem_text(ctx, p, label, spec)
    return out


def _problem_text(ctx: Ctx, p: FieldProblem, label: str, spec: FieldSpec | None) -> str:
    """A field's problem in the user's language, from the rule it broke and the field's own
    limits (the engine's English sentence is the fallback for rules the UI does not know)."""
    _ = ctx._
    values: dict[str, Any] = {"label": label}
    if spec is not None:
        values.update(
            min=None if spec.min is None else f"{spec.min:g}",
            max=None if spec.max is None else f"{spec.max:g}",
            min_length=spec.min_length,
        )
        values.update(max_length=spec.max_length)
    texts = {
        "required": _("%(label)s is required."),
        "not_in_future": _("%(label)s cannot be in the future."),
        "options": _("Choose one of the options for %(label)s."),
        "min_length": _("%(label)s must be at least %(min_length)s characters."),
        "max_length": _("%(label)s must be at most %(max_length)s characters."),
        "min": _("%(label)s must be at least %(min)s."),
        "max": _("%(label)s must be at most %(max)s."),
        "unchanged": _("The correction does not change anything."),
        "unknown_field": _("%(label)s is not a field of this form."),
        "characters": _("%(label)s contains characters that cannot be typed (control codes)."),
        "pattern": _("%(label)s is not in the expected format."),
    }
    if p.rule == "pattern" and spec is not None and spec.pattern_message:
        return ctx._(spec.pattern_message)
    if p.rule == "type" and spec is not None:
        kinds = {
            "date": _("%(label)s must be a date like 2024-03-31."),
            "number": _("%(label)s must be a number."),
            "text": _("%(label)s must be text."),
            "textarea": _("%(label)s must be text."),
        }
        if spec.type in kinds:
            return kinds[spec.type] % values
    limit = p.rule if p.rule in ("min", "max", "min_length", "max_length") else None
    if p.rule in texts and (limit is None or values.get(limit) is not None):
        return texts[p.rule] % values
    if ctx.lang.code == "en":
        return p.message
    return _("%(label)s is not valid.") % values


def login_error(ctx: Ctx, exc: LoginRefused) -> str:
    _ = ctx._
    if exc.reason == "locked":
        minutes = exc.minutes or 1
        return translations(ctx.lang.code).ngettext(
            "Too many wrong passwords: this account is locked for %(num)d more minute. "
            "Your local admin can unlock it.",
            "Too many wrong passwords: this account is locked for %(num)d more minutes. "
            "Your local admin can unlock it.",
            minutes,
        ) % {"num": minutes}
    if exc.reason == "offline_expired":
        return _(
            "The national registry cannot be reached, and your password has not been checked "
            "with it for too long. Log in once while the registry is reachable, or ask your "
            "local admin to reset your password."
        )
    if exc.reason == "deactivated":
        text = _(
            "Your account has been deactivated, so you cannot log in. Ask your local admin if "
            "this is a mistake."
        )
        if not exc.said:
            return text
        return text + " " + _("Reason given: %(why)s") % {"why": exc.said}
    if exc.reason == "last_try":
        return translations(ctx.lang.code).ngettext(
            "Wrong username or password. Careful: one more wrong try locks this account for "
            "%(num)d minute.",
            "Wrong username or password. Careful: one more wrong try locks this account for "
            "%(num)d minutes.",
            exc.minutes or 1,
        ) % {"num": exc.minutes or 1}
    return _("Wrong username or password.")


def in_words(ctx: Ctx, stamp: str | None) -> str:
    """A time still to come, as people say it ("in about 2 minutes"); never a time already
    past: what is due is "any moment now"."""
    if not stamp:
        return ""
    seconds = (parse_iso(stamp) - utcnow()).total_seconds()
    ngettext = translations(ctx.lang.code).ngettext
    if seconds <= 5:
        return ctx._("any moment now")
    if seconds < 90:
        n = int(seconds)
        return ngettext("in about %(num)d second", "in about %(num)d seconds", n) % {"num": n}
    minutes = round(seconds / 60)
    if minutes < 90:
        return ngettext("in about %(num)d minute", "in about %(num)d minutes", minutes) % {
            "num": minutes
        }
    hours = round(minutes / 60)
    return ngettext("in about %(num)d hour", "in about %(num)d hours", hours) % {"num": hours}


# The sync worker's stages, as the outbox names them.
STAGE_NAMES = {
    "resync": "Catching up with the registry after a restore",
    "pull": "Receiving from the registry",
    "push": "Sending to the registry",
    "documents": "Sending supporting documents",
}


def stage_line(ctx: Ctx, stage: StageStatus) -> str:
    """Where one stage of the sync worker stands, in the user's language."""
    _ = ctx._
    name = _(STAGE_NAMES.get(stage.name, stage.name))
    if stage.status == "running":
        said = _("%(stage)s: working on it since %(when)s.") % {
            "stage": name,
            "when": ctx.when(stage.since),
        }
    elif stage.status == "waiting" and stage.next_try:
        said = _("%(stage)s: next try %(when)s.") % {
            "stage": name,
            "when": in_words(ctx, stage.next_try),
        }
    elif stage.status == "waiting":
        said = _("%(stage)s: at the next round (within a minute).") % {"stage": name}
    elif stage.status == "failed":
        said = _("%(stage)s: did not work at %(when)s; it is tried again.") % {
            "stage": name,
            "when": ctx.when(stage.since),
        }
    elif stage.status == "done":
        said = _("%(stage)s: done at %(when)s.") % {"stage": name, "when": ctx.when(stage.since)}
    else:
        said = _("%(stage)s: not run yet.") % {"stage": name}
    if stage.attempts and stage.name == "push":
        # Failed tries in a row: Send now (and a success) starts the count again, while the
        # outbox's table counts every try of each action ("Tries in all").
        said += " " + translations(ctx.lang.code).ngettext(
            "%(num)d failed try since the last success or Send now.",
            "%(num)d failed tries since the last success or Send now.",
            stage.attempts,
        ) % {"num": stage.attempts}
    elif stage.attempts:  # Send now does not start these again: only a success does
        said += " " + translations(ctx.lang.code).ngettext(
            "%(num)d failed try since the last success.",
            "%(num)d failed tries since the last success.",
            stage.attempts,
        ) % {"num": stage.attempts}
    if stage.last_error:
        said += " " + _("Last error: %(error)s") % {"error": say(ctx, stage.last_error)}
    return said
