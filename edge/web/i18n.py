"""Translations of the UI: gettext catalogs (`locale/<lang>/LC_MESSAGES/messages.po`),
compiled in memory when the box starts, so there is no build step and no binary file to
keep in step. English is the source language. The country configuration's labels go
through the same catalogs: add them to a language's `.po` file to translate them.
"""

from __future__ import annotations

import gettext
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"


@dataclass(frozen=True)
class Language:
    code: str
    name: str  # in the language itself, for the language menu
    direction: str  # ltr | rtl


LANGUAGES = {
    "en": Language("en", "English", "ltr"),
    "ar": Language("ar", "العربية", "rtl"),
}


@cache
def translations(code: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / code / "LC_MESSAGES" / "messages.po"
    if code == DEFAULT or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=code)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def choose(cookie: str | None, accept_language: str | None, default: str = DEFAULT) -> Language:
    """The user's choice (cookie), else the browser's first known language, else the box's."""
    if cookie in LANGUAGES:
        return LANGUAGES[cookie]
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return LANGUAGES[code]
    return LANGUAGES.get(default, LANGUAGES[DEFAULT])
