"""Rendering pages: one Jinja2 environment per language (autoescaped, gettext installed),
dates in the office's time zone, and the page chrome every template shares."""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_datetime
from markupsafe import Markup

from edge.clock import parse_iso
from edge.web.i18n import LANGUAGES, Language, translations

TEMPLATES = Path(__file__).parent / "templates"


@cache
def environment(lang: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    catalog = translations(lang)
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    rtl = LANGUAGES[lang].direction == "rtl" if lang in LANGUAGES else False
    for name in ("gettext", "ngettext"):
        env.globals[name] = _isolating(env.globals[name], rtl)  # type: ignore[arg-type]
    # Labels from the country configuration: translated when the catalog has them.
    env.globals["t"] = catalog.gettext
    env.filters["initials"] = initials
    # An idempotency key for a form (edge.web.context.form_key).
    env.globals["new_key"] = lambda: secrets.token_hex(16)
    env.globals["shown"] = lambda spec, value: shown(spec, value, catalog.gettext, lang)
    return env


# Unicode's FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE: the text between keeps its own
# direction inside a sentence of the other (as Fluent does with every placeable).
FSI, PDI = "\u2068", "\u2069"
_LTR, _RTL = {"L", "EN", "AN"}, {"R", "AL"}


def isolate(value: Any, rtl: bool) -> Any:
    """A name, a date or an id put into a sentence, isolated when it is written in the other
    direction than the page (an Arabic name in English, digits or Latin letters in Arabic):
    "by سارة حداد, Ramallah" and "٢ ... Layla, 14:00" keep their order."""
    if not isinstance(value, str) or isinstance(value, Markup):
        return value
    other = _LTR if rtl else _RTL
    if any(unicodedata.bidirectional(c) in other for c in value):
        return f"{FSI}{value}{PDI}"
    return value


def _isolating(fn: Callable[..., Any], rtl: bool) -> Callable[..., Any]:
    @jinja2.pass_context
    def translated(context: jinja2.runtime.Context, *args: Any, **variables: Any) -> Any:
        return fn(context, *args, **{k: isolate(v, rtl) for k, v in variables.items()})

    return translated


def shown(spec: Any, value: Any, gettext: Any, lang: str = "en") -> str:
    """A declaration value as people read it: an option's label, yes or no, a date in the
    reader's language (2 Dec 2026; ٢ ديسمبر ٢٠٢٦), or the value."""
    if spec.type == "date" and isinstance(value, str):
        try:
            return str(format_date(date.fromisoformat(value), "d MMM y", locale=lang))
        except ValueError:
            return value
    if spec.type == "select":
        label = next((o.label for o in spec.options if o.value == value), str(value))
        return str(gettext(label))
    if spec.type == "boolean":
        return str(gettext("Yes") if value else gettext("No"))
    return str(value)


def initials(name: str | None) -> str:
    parts = [p for p in (name or "").split() if p]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


def when(stamp: str | None, lang: Language, zone: str) -> str:
    """A journal time (ISO, UTC) as people in the office read it."""
    if not stamp:
        return ""
    moment = parse_iso(stamp).astimezone(ZoneInfo(zone))
    comma = "،" if lang.direction == "rtl" else ","  # Arabic writes its own comma
    return format_datetime(moment, f"d MMM y{comma} HH:mm", locale=lang.code)


def render(
    lang: Language,
    name: str,
    context: dict[str, Any],
    between: Callable[[], None] | None = None,
) -> str:
    """The page; `between` is called after each part of it (saves first: a page rendering in
    a thread steps aside there while a colleague's save is under way)."""
    template = environment(lang.code).get_template(name)
    if between is None:
        return template.render(lang=lang, **context)
    parts = []
    for part in template.generate(lang=lang, **context):
        parts.append(part)
        between()
    return "".join(parts)
