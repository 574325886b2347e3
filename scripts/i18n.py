"""Update the UI's translation catalogs from the source: `python scripts/i18n.py`.

Extracts every translatable text of the templates, of edge/web/*.py and every `tr(...)` text
of edge/ (edge/texts.py) into
edge/web/locale/messages.pot, then merges it into each language's messages.po (new texts
arrive untranslated, texts no longer used are marked obsolete). Translate the new entries,
then run the tests: tests/unit/test_i18n.py fails while a language lacks a translation.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

import edge.web.router  # noqa: F401 - every error class is defined once imported
from edge.errors import EdgeError
from edge.journal.reads import HELD_BACK
from edge.web.context import FLASH_TEXTS
from edge.web.messages import STAGE_NAMES
from edge.workflow.config import load_config
from edge.workflow.model import CORE_ACTIONS, FORM_LABELS, Status
from edge.workflow.rules import ASSIGN_FIRST
from upstream_sync.transport import NO_ANSWER, NO_CONNECTION

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WEB = ROOT / "edge" / "web"
LOCALE = WEB / "locale"
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "t": None}


def template() -> Catalog:
    catalog = Catalog(project="edge-box", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        WEB, METHODS, options_map=OPTIONS, keywords=KEYWORDS
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    # Texts made outside the pages and marked with edge.texts.tr (engine reasons, errors).
    for filename, lineno, message, comments, _context in extract_from_dir(
        ROOT / "edge", [("web/**", "ignore"), ("**.py", "python")], keywords={"tr": None}
    ):
        catalog.add(message, None, [(f"edge/{filename}", lineno)], auto_comments=comments)
    for label in configuration_texts():
        if label not in catalog:
            catalog.add(label, None, [("edge/workflow/default_config.toml", 0)])
    return catalog


def configuration_texts() -> list[str]:
    """What pages show from the default country configuration and the workflow tables."""
    config = load_config()
    texts = [a.label for a in CORE_ACTIONS.values()] + [s.value.capitalize() for s in Status]
    texts += [
        FORM_LABELS.get(k, k.capitalize())
        for a in CORE_ACTIONS.values()
        for k in dict(a.form_rules)
    ]
    texts += list(FORM_LABELS.values())  # recorded by the engine too (a copy's fee)
    texts += list(FLASH_TEXTS.values()) + list(STAGE_NAMES.values())
    texts += [label for label in config.flags.values()]
    for event in config.events.values():
        texts.append(event.label)
        for spec in event.fields:
            texts += [spec.label, spec.help, spec.section, spec.pattern_message or ""]
            texts += [o.label for o in spec.options]
    for kinds in config.documents.values():
        texts += [t for kind in kinds.values() for t in (kind.label, kind.help)]
    for action in config.custom.values():
        texts += [action.name, action.dialog_copy, action.audit_copy]
        for spec in action.dialog_form:
            texts += [spec.label, spec.help, *(o.label for o in spec.options)]
    texts += [q.label for q in config.workqueues.values()]
    # Why an action is disabled: the engine's fixed reasons and the configured ones.
    texts += [ASSIGN_FIRST, NO_ANSWER, NO_CONNECTION, HELD_BACK]
    texts += [cls.title for cls in _error_classes(EdgeError)]
    for core in config.core.values():
        texts += [c.reason or "" for c in core.disable_if]
    for action in config.custom.values():
        texts += [c.reason or "" for c in action.disable_if]
    texts += [r.label for r in config.roles.values()]
    return [t for t in dict.fromkeys(texts) if t]


def _error_classes(base: type) -> list[type]:
    out = []
    for cls in base.__subclasses__():
        out += [cls, *_error_classes(cls)]
    return out


def main() -> None:
    pot = template()
    with (LOCALE / "messages.pot").open("wb") as f:
        write_po(f, pot, omit_header=False, sort_output=True)
    for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/messages.po")):
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=po_path.parts[-3])
        catalog.update(pot, no_fuzzy_matching=True)
        with po_path.open("wb") as f:
            write_po(f, catalog, sort_output=True)
        missing = sum(1 for m in catalog if m.id and not m.string)
        print(f"{po_path.relative_to(WEB)}: {len(catalog)} texts, {missing} untranslated")


if __name__ == "__main__":
    main()
