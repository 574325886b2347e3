"""The UI's translations: the catalog template matches the source, every language has every
text, and pages render with the language's direction."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from babel.messages.pofile import read_po

from edge.web.i18n import LANGUAGES, LOCALE_DIR, choose, translations
from edge.web.render import render

ROOT = Path(__file__).resolve().parents[2]


def _script() -> object:
    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts" / "i18n.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_catalog_template_lists_every_text_of_the_source() -> None:
    fresh = {m.id for m in _script().template() if m.id}  # type: ignore[attr-defined]
    with (LOCALE_DIR / "messages.pot").open("rb") as f:
        stored = {m.id for m in read_po(f) if m.id}
    assert fresh == stored, "run `python scripts/i18n.py` and translate the new texts"


def test_every_language_translates_every_text() -> None:
    with (LOCALE_DIR / "messages.pot").open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    for code in LANGUAGES:
        if code == "en":
            continue
        with (LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as f:
            catalog = read_po(f, locale=code)
        done = {
            m.id
            for m in catalog
            if m.id and all(m.string if isinstance(m.string, tuple) else [m.string])
        }
        assert wanted - done == set(), f"{code}: untranslated texts"


def test_arabic_pages_are_right_to_left_and_translated() -> None:
    arabic = LANGUAGES["ar"]
    assert translations("ar").gettext("Log in") == "تسجيل الدخول"
    assert (
        translations("ar").ngettext(
            "%(num)d action is waiting to be sent.", "%(num)d actions are waiting to be sent.", 2
        )
        == "إجراءان بانتظار الإرسال."
    )
    html = render(
        arabic,
        "login.html",
        {
            "office": "Ramallah Clinic",
            "languages": LANGUAGES.values(),
            "path": "/login",
            "user": None,
            "queues": [],
            "banner": None,
            "csrf": "",
            "events": [],
            "next": "/",
            "error": None,
        },
    )
    assert '<html lang="ar" dir="rtl">' in html and "تسجيل الدخول" in html


def test_the_language_is_the_users_choice_then_the_browsers_then_the_boxs() -> None:
    assert choose("ar", "en-GB,en;q=0.9").code == "ar"
    assert choose(None, "ar-PS,ar;q=0.9,en;q=0.5").code == "ar"
    assert choose("xx", "fr-FR", default="ar").code == "ar"
    assert choose(None, None).code == "en"


def test_dates_are_shown_in_the_offices_time_zone_and_language() -> None:
    from edge.web.render import when

    stamp = "2026-11-22T22:30:00.000Z"  # already the next day in Hebron (UTC+2)
    assert when(stamp, LANGUAGES["en"], "Asia/Hebron") == "23 Nov 2026, 00:30"
    assert when(stamp, LANGUAGES["en"], "UTC") == "22 Nov 2026, 22:30"
    assert "نوفمبر" in when(stamp, LANGUAGES["ar"], "Asia/Hebron")


def test_a_fields_problem_is_told_in_the_users_language() -> None:
    from types import SimpleNamespace

    from edge.errors import FieldProblem
    from edge.web.context import Ctx
    from edge.web.messages import _problem_text
    from edge.workflow.config import FieldSpec

    weight = FieldSpec(id="child.weight", label="Weight at birth (kg)", type="number", max=10)
    for code, expected in (("en", "must be at most 10"), ("ar", "يجب ألا يزيد على 10")):
        ctx = Ctx(SimpleNamespace(), SimpleNamespace(), LANGUAGES[code])  # type: ignore[arg-type]
        problem = FieldProblem("declaration.child.weight", "max", "Weight must be at most 10")
        text = _problem_text(ctx, problem, translations(code).gettext(weight.label), weight)
        assert expected in text
    required = FieldProblem("declaration.child.sex", "required", "Sex is required")
    ar = Ctx(SimpleNamespace(), SimpleNamespace(), LANGUAGES["ar"])  # type: ignore[arg-type]
    assert _problem_text(ar, required, "الجنس", None) == "الجنس: هذا الحقل مطلوب."


def test_every_translation_keeps_the_texts_placeholders() -> None:
    import re

    placeholder = re.compile(r"%\((\w+)\)[sd]")
    for code in LANGUAGES:
        if code == "en":
            continue
        with (LOCALE_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as f:
            catalog = read_po(f, locale=code)
        for m in catalog:
            if not m.id or isinstance(m.id, tuple):
                continue
            wanted = set(placeholder.findall(m.id))
            assert set(placeholder.findall(str(m.string))) == wanted, (code, m.id)


def test_engine_reasons_and_errors_are_told_in_the_users_language() -> None:
    from datetime import date
    from types import SimpleNamespace

    from edge.errors import ActionNotAvailable
    from edge.web.context import Ctx
    from edge.web.messages import error_text, say
    from edge.workflow.engine import ActionRequest, decide
    from edge.workflow.model import ActionType, RecordState, Status
    from tests.helpers import actor, config

    cfg = config()
    registrar = actor("local-registrar", cfg)
    draft = RecordState(
        id="r1",
        event_type="birth",
        office_id=registrar.office_id,
        created_by=registrar.id,
        created_at="2026-11-22T08:00:00.000Z",
        status=Status.DRAFT,
        flags=set(),
        assigned_to=registrar.id,
        declaration={},
        pending_correction=None,
        updated_at="2026-11-22T08:00:00.000Z",
        last_seq=1,
    )
    try:
        decide(draft, ActionRequest(ActionType.REGISTER, "r1"), registrar, cfg, date(2026, 11, 22))
    except ActionNotAvailable as exc:
        refused = exc
    else:
        raise AssertionError("registering a draft must be refused")
    assert refused.detail == "“Register” is not possible on a record with status “Draft”"
    en = Ctx(SimpleNamespace(), SimpleNamespace(), LANGUAGES["en"])  # type: ignore[arg-type]
    ar = Ctx(SimpleNamespace(), SimpleNamespace(), LANGUAGES["ar"])  # type: ignore[arg-type]
    assert error_text(en, refused) == refused.detail
    arabic = error_text(ar, refused)
    register, draft_word = (translations("ar").gettext(w) for w in ("Register", "Draft"))
    assert arabic == f"لا يمكن إجراء «{register}» على سجل حالته «{draft_word}»"
    assert not any("a" <= ch.lower() <= "z" for ch in arabic)  # no English left
    # A registry's own words cannot be translated: they stay, after the translated title.
    foreign = ActionNotAvailable("Registry says: duplicate of B1234567")
    assert error_text(ar, foreign).endswith(": Registry says: duplicate of B1234567")
    assert say(ar, "") == ""


def test_a_name_in_a_sentence_keeps_its_own_direction() -> None:
    """A name, a date or an id put into a translated sentence is isolated (FSI … PDI) when it
    is written in the other direction than the page; a same-direction value, a number and a
    value already marked up are left alone."""
    from edge.web.render import FSI, PDI, environment

    sentence = '{{ _("Assigned to %(name)s", name=n) }}'
    english, arabic = (
        environment("en").from_string(sentence),
        environment("ar").from_string(sentence),
    )
    assert english.render(n="Layla Khoury") == "Assigned to Layla Khoury"
    assert english.render(n="سارة حداد") == f"Assigned to {FSI}سارة حداد{PDI}"
    assert arabic.render(n="Layla Khoury").endswith(f"{FSI}Layla Khoury{PDI}")
    assert FSI not in arabic.render(n="سارة حداد")
    assert f"{FSI}2026-12-02{PDI}" in arabic.render(n="2026-12-02")
    assert "<b>" not in english.render(n="<b>x</b>")  # still escaped
