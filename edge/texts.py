"""Texts people read that are made outside the web pages: the engine's reasons, errors.

`tr("“%(action)s” is not possible on a %(status)s record", action=..., status=...)` returns a
`Text`: a `str` holding the English words (what the API, the CLI and the logs give), which
also keeps its template and values so that a page can say it in the reader's language
(`edge.web.messages.say`). Templates use `%(name)s` placeholders; scripts/i18n.py collects every
`tr(...)` template into the catalogs, and the values are translated too where the catalog
knows them (an action's label, a status).
"""

from __future__ import annotations


class Text(str):
    """English text that remembers how to say it in another language."""

    template: str
    values: dict[str, str]

    def __new__(cls, template: str, values: dict[str, str]) -> Text:
        made = super().__new__(cls, template % values if values else template)
        made.template = template
        made.values = values
        return made


def tr(template: str, **values: object) -> Text:
    """Mark a text for translation and fill in its values (see the module's docstring)."""
    return Text(template, {k: str(v) for k, v in values.items()})
