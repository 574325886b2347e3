"""The office web UI: server-rendered pages that work without JavaScript.

Pages use the same session cookie as the API. A page's form carries the session's CSRF token
in a hidden field (the API takes it in a header). Every action goes through the same journal
and engine as the API: the menu on a record page is the engine's, with the reason when an
action is disabled.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Redirect

from edge.clock import utcnow
from edge.errors import EdgeError, FieldProblem, InvalidInput, NotFound
from edge.http.auth import COOKIE, Caller
from edge.http.session import change_own_password
from edge.http.workqueues import visible_queues
from edge.ids import is_uuid, uuid7
from edge.journal.reads import RecordRow, SyncInfo
from edge.pairing import code_to_show
from edge.texts import Text
from edge.users import sessions
from edge.users.login import LoginRefused
from edge.users.register import actor_of, get_user
from edge.web.i18n import LANGUAGES, Language, choose, translations
from edge.web.render import render, when
from edge.workflow.config import FieldSpec
from edge.workflow.engine import TAKES_DECLARATION, ActionRequest
from edge.workflow.fold import Entry
from edge.workflow.model import CORE_ACTIONS, ActionType, Status
from edge.workflow.rules import action_menu, can_read
from edge.workflow.scopes import grants
from upstream_sync.client import bring_here, registry_search

LANG_COOKIE = "edge_lang"
# Set while this browser showed the "registry unreachable" banner: once everything is sent,
# the green "your offline changes have been sent" banner shows until dismissed.
OFFLINE_COOKIE = "edge_offline"
PAGE_SIZE = 20
SECURITY_HEADERS = {
    # Everything comes from the box: no CDN, no inline script, no other origin.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
NO_FORM = ActionType.ASSIGN, ActionType.UNASSIGN


@dataclass
class Ctx:
    """One page request: who asks, in which language, with which form values."""

    request: Request[Any, Any, Any]
    state: State
    lang: Language
    caller: Caller | None = None
    form: dict[str, str] = field(default_factory=dict)

    @property
    def me(self) -> Caller:
        """The logged-in user (every page past `enter` has one)."""
        assert self.caller is not None
        return self.caller

    @property
    def _(self) -> Callable[[str], str]:
        return translations(self.lang.code).gettext

    def when(self, stamp: str | None) -> str:
        return when(stamp, self.lang, self.state.settings.timezone)


def _lang(request: Request[Any, Any, Any], state: State) -> Language:
    return choose(
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        state.settings.language,
    )


def _caller(request: Request[Any, Any, Any], state: State) -> Caller | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    conn = state.reader.conn()
    idle = timedelta(minutes=state.settings.session_idle_minutes)
    session = sessions.find_session(conn, cookie, utcnow(), idle)
    if session is None:
        return None
    user = get_user(conn, session.user_id)
    if not user.active:
        return None
    return Caller(user, actor_of(user, state.config), session)


class Answer(Exception):
    """The answer given instead of the page (the login page, a required password change, a
    refused form); the web router's handler sends it."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__("answered instead of the page")
        self.response = response


def answer(request: Request[Any, Any, Any], exc: Answer) -> Response[Any]:
    return exc.response


async def enter(
    request: Request[Any, Any, Any], state: State, *, password_page: bool = False
) -> Ctx:
    """The page's context for a logged-in user; otherwise raises the answer to give
    instead: the login page, the password change a reset requires, or a refusal of a form
    without the page's token."""
    ctx = Ctx(request, state, _lang(request, state))
    ctx.caller = await asyncio.to_thread(_caller, request, state)
    if ctx.caller is None:
        raise Answer(Redirect(f"/login?next={quote(request.url.path)}"))
    if request.method == "POST":
        ctx.form = await _read_form(request)
        token = ctx.form.get("csrf_token", "")
        assert ctx.caller.session is not None
        if not hmac.compare_digest(token.encode(), ctx.caller.session.csrf_token.encode()):
            raise Answer(
                show(
                    ctx,
                    "message.html",
                    403,
                    title=ctx._("This form has expired"),
                    message=ctx._(
                        "The page was open for too long or came from elsewhere. Go back, "
                        "reload the page and try again."
                    ),
                )
            )
    if ctx.caller.user.must_change_password and not password_page:
        raise Answer(Redirect("/password"))
    return ctx


async def _read_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    data = await request.form()
    return {str(k): str(v) for k, v in data.items()}


def show(ctx: Ctx, template: str, status: int = 200, **context: Any) -> Response[str]:
    chrome = _chrome(ctx)
    html = render(ctx.lang, template, {**chrome, **context})
    response = Response(html, media_type=MediaType.HTML, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    if chrome["banner"] and chrome["banner"]["kind"] == "offline":
        # This browser saw the registry unreachable: tell it when the work has been sent.
        response.set_cookie(OFFLINE_COOKIE, "1", path="/", samesite="strict")
    return response


def _chrome(ctx: Ctx) -> dict[str, Any]:
    """What every page shows: the user, the office, the menus, the registry banner."""
    state = ctx.state
    chrome: dict[str, Any] = {
        "office": state.settings.office_name or state.settings.office_id,
        "languages": LANGUAGES.values(),
        "path": ctx.request.url.path,
        "user": None,
        "queues": [],
        "banner": None,
        "csrf": "",
        "events": state.config.events.values(),
        "manages_users": False,
        "may_declare": False,
    }
    caller = ctx.caller
    if caller is None:
        return chrome
    chrome["user"] = caller.user
    chrome["csrf"] = caller.session.csrf_token if caller.session else ""
    chrome["queues"] = visible_queues(caller.actor, state.config.workqueues)
    chrome["manages_users"] = any(s.name == "user.read" for s in caller.actor.scopes)
    chrome["may_declare"] = any(s.name == "record.create" for s in caller.actor.scopes)
    chrome["banner"] = banner(ctx)
    return chrome


def banner(ctx: Ctx) -> dict[str, Any] | None:
    """The registry's state for the banner: `offline` (blue) while it is unreachable,
    `sent` (green) once what was done offline has all been sent, until dismissed."""
    summary = ctx.state.reader.sync_summary()
    counts = summary["counts"]
    waiting = counts.get("pending", 0) + counts.get("sending", 0)
    if summary["enrolled"] and summary["registry_reachable"] is False:
        return {"kind": "offline", "waiting": waiting}
    if (
        ctx.request.cookies.get(OFFLINE_COOKIE) == "1"
        and summary["registry_reachable"]
        and waiting == 0
    ):
        return {"kind": "sent", "waiting": 0}
    return None


# --- logging in and out ----------------------------------------------------------------


@get("/login", sync_to_thread=False)
def login_page(request: Request[Any, Any, Any], state: State) -> Response[str]:
    ctx = Ctx(request, state, _lang(request, state))
    next_ = _safe_next(request.query_params.get("next"))
    return show(ctx, "login.html", next=next_, error=None, pairing_code=code_to_show())


@post("/login")
async def login(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = Ctx(request, state, _lang(request, state))
    form = await _read_form(request)
    username, password = form.get("username", "").strip(), form.get("password", "")
    next_ = _safe_next(form.get("next"))
    try:
        done = await asyncio.to_thread(state.authenticator.login, username, password, utcnow())
    except LoginRefused as exc:
        return show(
            ctx, "login.html", 401, next=next_, error=_login_error(ctx, exc), username=username
        )
    except InvalidInput:
        error = ctx._("Enter your username and password.")
        return show(ctx, "login.html", 422, next=next_, error=error, username=username)
    response: Response[Any] = Redirect("/password" if done.user.must_change_password else next_)
    response.set_cookie(
        COOKIE,
        done.session_id,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _login_error(ctx: Ctx, exc: LoginRefused) -> str:
    _ = ctx._
    if exc.reason == "locked":
        minutes = re.search(r"(\d+) more minute", exc.detail)
        return _(
            "Too many wrong passwords: this account is locked for %(minutes)s more minutes. "
            "Your local admin can unlock it."
        ) % {"minutes": minutes.group(1) if minutes else "?"}
    if exc.reason == "offline_expired":
        return _(
            "The national registry cannot be reached, and your password has not been checked "
            "with it for too long. Log in once while the registry is reachable, or ask your "
            "local admin to reset your password."
        )
    return _("Wrong username or password.")


def _safe_next(value: str | None) -> str:
    """Only a path on this box (never another site) after logging in."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    return parts.path + (f"?{parts.query}" if parts.query else "") if not parts.netloc else "/"


@post("/logout")
async def logout(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state, password_page=True)
    assert ctx.caller is not None and ctx.caller.session is not None
    await state.journal.run_async(
        lambda c, h=ctx.caller.session.id_hash: sessions.end_session(c, h)
    )
    response: Response[Any] = Redirect("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@get("/password")
async def password_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state, password_page=True)
    return show(ctx, "password.html", errors={}, done=False)


@post("/password")
async def change_password(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state, password_page=True)
    new, again = ctx.form.get("new_password", ""), ctx.form.get("new_password_again", "")
    errors: dict[str, str] = {}
    if new != again:
        errors["new_password_again"] = ctx._("The two new passwords are not the same.")
    else:
        try:
            await change_own_password(state, ctx.me, ctx.form.get("current_password", ""), new)
        except LoginRefused:
            errors["current_password"] = ctx._("This is not your current password.")
        except InvalidInput as exc:
            errors = {p.field: p.message for p in exc.problems}
    if errors:
        return show(ctx, "password.html", 422, errors=errors, done=False)
    return Redirect("/")


@post("/language")
async def set_language(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await _read_form(request)
    code = form.get("lang", "")
    response: Response[Any] = Redirect(_safe_next(form.get("next")))
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, path="/", samesite="strict", max_age=31_536_000)
    return response


# --- workqueues and search ---------------------------------------------------------------


@get("/")
async def home(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    queues = visible_queues(ctx.me.actor, state.config.workqueues)
    return Redirect(f"/queues/{queues[0].id}" if queues else "/search")


@get("/queues/{queue_id:str}")
async def queue_page(
    request: Request[Any, Any, Any], state: State, queue_id: FromPath[str]
) -> Response[Any]:
    ctx = await enter(request, state)
    queue = state.config.workqueues.get(queue_id)
    if queue is None or queue not in visible_queues(ctx.me.actor, state.config.workqueues):
        return not_found(ctx)
    page = _int(request.query_params.get("page"), 1)
    rows, total = await asyncio.to_thread(
        state.reader.workqueue, queue.query, ctx.me.actor, page, PAGE_SIZE
    )
    return show(
        ctx,
        "queue.html",
        queue=queue,
        records=_listing(ctx, rows),
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
    )


@get("/search")
async def search_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    text = (request.query_params.get("q") or "").strip()[:100]
    rows = await asyncio.to_thread(state.reader.search, text, ctx.me.actor) if text else []
    registry: list[dict[str, Any]] | None = []
    summary = state.reader.sync_summary()
    if text and summary["enrolled"] and summary["registry_reachable"] is not False:
        hits = await asyncio.to_thread(
            registry_search, state.reader, state.settings.device_key_path, text
        )
        registry = None if hits is None else _registry_hits(ctx, hits)
    elif text and summary["enrolled"]:
        registry = None
    return show(ctx, "search.html", q=text, records=_listing(ctx, rows), registry=registry)


def _registry_hits(ctx: Ctx, hits: list[Any]) -> list[dict[str, Any]]:
    """The registry's records, each marked on this box or in the registry only, and
    whether this user may bring it here (their role may assign such a record)."""
    here = ctx.state.reader.conn()
    out = []
    for h in hits:
        local = here.execute("SELECT 1 FROM records WHERE id = ?", (h.record_id,)).fetchone()
        event = ctx.state.config.events.get(h.event_type)
        out.append(
            {
                "id": h.record_id,
                "tracking_id": h.tracking_id,
                "title": h.title or ctx._("(no name yet)"),
                "event": event.label if event else h.event_type,
                "status": h.status,
                "office": h.held_by_office or h.office_id,
                "on_box": local is not None,
                "may_bring": grants(
                    ctx.me.actor, "record.assign", office_id=h.office_id, event=h.event_type
                ),
            }
        )
    return out


@post("/records/bring")
async def bring_record(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Assign to me on a record found in the registry: lease it to this box, download it,
    assign it to the user."""
    ctx = await enter(request, state)
    record_id = ctx.form.get("record_id", "")
    if not is_uuid(record_id):
        return not_found(ctx)
    problem = await asyncio.to_thread(
        bring_here,
        state.journal,
        state.reader,
        state.settings.device_key_path,
        record_id,
        f"{ctx.me.user.display_name} ({ctx.me.user.username})",
    )
    if problem is not None:
        return show(
            ctx,
            "message.html",
            409,
            title=ctx._("The record could not be brought here"),
            message=problem,
        )
    try:
        await state.journal.append_async(ActionRequest(ActionType.ASSIGN, record_id), ctx.me.actor)
    except EdgeError as exc:
        return await _record(ctx, record_id, error=error_text(ctx, exc))
    return Redirect(f"/records/{record_id}")


def _listing(ctx: Ctx, rows: list[RecordRow]) -> list[dict[str, Any]]:
    ids = {r.state.assigned_to for r in rows if r.state.assigned_to}
    names = ctx.state.reader.user_names(ids)
    return [
        {
            "id": r.state.id,
            "tracking_id": r.tracking_id,
            "title": r.title or ctx._("(no name yet)"),
            "event": ctx.state.config.events[r.state.event_type].label
            if r.state.event_type in ctx.state.config.events
            else r.state.event_type,
            "status": r.state.status.value,
            "flags": [ctx.state.config.flag_label(f) for f in sorted(r.state.flags)],
            "assignee": names.get(r.state.assigned_to or "", "") if r.state.assigned_to else "",
            "updated": ctx.when(r.state.updated_at),
        }
        for r in rows
    ]


def _int(value: str | None, default: int) -> int:
    try:
        return max(1, min(int(value or default), 1_000_000))
    except ValueError:
        return default


# --- records -----------------------------------------------------------------------------


@get("/records/{record_id:str}")
async def record_page(
    request: Request[Any, Any, Any], state: State, record_id: FromPath[str]
) -> Response[Any]:
    ctx = await enter(request, state)
    return await _record(ctx, record_id)


async def _record(ctx: Ctx, record_id: str, error: str | None = None) -> Response[Any]:
    row = _readable(ctx, record_id)
    if row is None:
        return not_found(ctx)
    reader = ctx.state.reader
    timeline = await asyncio.to_thread(reader.timeline, record_id)
    lease = reader.lease(record_id)
    names = reader.user_names({e.created_by for e, _ in timeline} | {row.state.assigned_to or ""})
    menu = action_menu(row.state, ctx.me.actor, ctx.state.config, names=lambda u: names.get(u, "?"))
    menu = [dataclasses.replace(i, reason=_menu_reason(ctx, i.reason)) for i in menu]
    if lease is not None and lease.state == "revoked":
        taken = ctx._("The registry gave this record to another office (%(by)s).") % {
            "by": lease.changed_by
        }
        menu = [dataclasses.replace(item, enabled=False, reason=taken) for item in menu]
    register_pending = any(
        e.type is ActionType.REGISTER and s.state != "accepted" for e, s in timeline
    )
    return show(
        ctx,
        "record.html",
        record=row,
        event=ctx.state.config.events.get(row.state.event_type),
        specs=ctx.state.config.fields.get(row.state.event_type, {}),
        assignee=names.get(row.state.assigned_to or ""),
        flags=[ctx.state.config.flag_label(f) for f in sorted(row.state.flags)],
        menu=menu,
        no_form=NO_FORM,
        timeline=[_step(ctx, e, s, names) for e, s in reversed(timeline)],
        lease=lease,
        register_pending=register_pending,
        error=error,
    )


def _menu_reason(ctx: Ctx, reason: str | None) -> str | None:
    """The engine's reason for a disabled action, in the user's language."""
    return say(ctx, reason) if reason else None


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


def _step(ctx: Ctx, e: Entry, sync: SyncInfo, names: dict[str, str]) -> dict[str, Any]:
    label = (
        str(e.payload.get("audit") or e.custom_type)
        if e.type is ActionType.CUSTOM
        else CORE_ACTIONS[e.type].label
    )
    return {
        "label": label,
        "by": names.get(e.created_by, e.created_by),
        "office": e.created_at_location,
        "at": ctx.when(e.created_at),
        "unverified_time": e.clock == "unsynced",
        "sync": sync.state,
        "reason": sync.reason,
        "registry_at": ctx.when(sync.registry_time),
        "discarded_by": sync.discarded_by,
    }


def _readable(ctx: Ctx, record_id: str) -> RecordRow | None:
    if not is_uuid(record_id):
        return None
    row: RecordRow | None = ctx.state.reader.record(record_id)
    if row is None or not can_read(row.state, ctx.me.actor):
        return None
    return row


@get("/records/new")
async def new_record_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    event = state.config.events.get(request.query_params.get("event") or "")
    if event is None:
        return show(ctx, "choose_event.html")
    return _form_page(ctx, event.id, None, {}, {})


@post("/records/new")
async def create_record(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Start a record and, by the button used, keep it as a draft, notify or declare it."""
    ctx = await enter(request, state)
    event = state.config.events.get(ctx.form.get("event", ""))
    if event is None:
        return not_found(ctx)
    values = _declaration(ctx.form, state.config.fields[event.id], keep_empty=False)
    record_id = uuid7()
    try:
        await state.journal.append_async(
            ActionRequest(ActionType.CREATE, record_id, event_type=event.id, declaration=values),
            ctx.me.actor,
        )
    except InvalidInput as exc:
        return _form_page(ctx, event.id, None, values, _field_errors(ctx, exc, event.id), 422)
    except EdgeError as exc:
        return _form_page(ctx, event.id, None, values, {"": error_text(ctx, exc)}, 422)
    then = ctx.form.get("then", "")
    if then in (ActionType.DECLARE, ActionType.NOTIFY):
        return await _perform(ctx, record_id, ActionType(then), None)
    return Redirect(f"/records/{record_id}")


@get("/records/{record_id:str}/do/{action:str}")
async def action_page(
    request: Request[Any, Any, Any], state: State, record_id: FromPath[str], action: FromPath[str]
) -> Response[Any]:
    ctx = await enter(request, state)
    row = _readable(ctx, record_id)
    kind = _action(action)
    if row is None or kind is None:
        return not_found(ctx)
    custom = request.query_params.get("custom")
    if kind in TAKES_DECLARATION:
        values = dict(row.state.declaration)
        if kind is ActionType.REQUEST_CORRECTION:
            values = {**values, **(row.state.pending_correction or {})}
        return _form_page(ctx, row.state.event_type, row, values, {}, action=kind)
    return _dialog_page(ctx, row, kind, custom, {}, {})


@post("/records/{record_id:str}/do/{action:str}")
async def perform(
    request: Request[Any, Any, Any], state: State, record_id: FromPath[str], action: FromPath[str]
) -> Response[Any]:
    ctx = await enter(request, state)
    kind = _action(action)
    if kind is None or _readable(ctx, record_id) is None:
        return not_found(ctx)
    return await _perform(ctx, record_id, kind, ctx.form.get("custom") or None)


async def _perform(ctx: Ctx, record_id: str, kind: ActionType, custom: str | None) -> Response[Any]:
    """Run one action from a page; on refusal, show the same page again with the reasons."""
    row = _readable(ctx, record_id)
    if row is None:
        return not_found(ctx)
    config = ctx.state.config
    declaration = None
    if kind in TAKES_DECLARATION and any(k.startswith("f.") for k in ctx.form):
        declaration = _declaration(ctx.form, config.fields[row.state.event_type], keep_empty=True)
        if kind is ActionType.REQUEST_CORRECTION:
            declaration = {
                k: v for k, v in declaration.items() if row.state.declaration.get(k) != v
            }
    specs = config.custom[custom].dialog_form if custom in config.custom else []
    form = {
        k[2:]: _typed(v, next((s for s in specs if s.id == k[2:]), None))
        for k, v in ctx.form.items()
        if k.startswith("d.")
    }
    then = ctx.form.get("then") or None
    req = ActionRequest(
        kind,
        record_id,
        custom_type=custom,
        declaration=declaration,
        form=form or None,
        then=ActionType(then)
        if kind is ActionType.EDIT and then in ("DECLARE", "REGISTER")
        else None,
    )
    try:
        await ctx.state.journal.append_async(req, ctx.me.actor)
    except InvalidInput as exc:
        errors = _field_errors(ctx, exc, row.state.event_type)
        if kind in TAKES_DECLARATION and declaration is not None:
            values = {**row.state.declaration, **(declaration or {})}
            return _form_page(ctx, row.state.event_type, row, values, errors, 422, action=kind)
        return _dialog_page(ctx, row, kind, custom, form, errors, 422)
    except NotFound:
        return not_found(ctx)
    except EdgeError as exc:
        return await _record(ctx, record_id, error=error_text(ctx, exc))
    return Redirect(f"/records/{record_id}")


def error_text(ctx: Ctx, exc: EdgeError) -> str:
    """An error for people, in the user's language; details nobody translated (a registry's
    own words) follow the translated title."""
    detail = say(ctx, exc.detail)
    if ctx.lang.code == "en" or isinstance(exc.detail, Text) or detail != exc.detail:
        return detail
    return f"{ctx._(exc.title)}: {detail}"


def _action(value: str) -> ActionType | None:
    try:
        kind = ActionType(value)
    except ValueError:
        return None
    return None if kind is ActionType.CREATE else kind


def _declaration(
    form: dict[str, str], specs: dict[str, FieldSpec], keep_empty: bool
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field_id, spec in specs.items():
        raw = form.get(f"f.{field_id}")
        if spec.type == "boolean":
            raw = "true" if raw else ("" if keep_empty else None)
        if raw is None or (raw == "" and not keep_empty):
            continue
        values[field_id] = _typed(raw, spec)
    return values


def _typed(raw: str, spec: FieldSpec | None) -> Any:
    """A form's text as the field's type (left as text when it is not valid: the engine then
    names the field and the rule)."""
    raw = raw.strip()
    if spec is None or raw == "":
        return raw
    if spec.type == "number":
        try:
            number = float(raw)
        except ValueError:
            return raw
        return int(number) if number.is_integer() else number
    if spec.type == "boolean":
        return raw in ("true", "on", "1")
    return raw


def _field_errors(ctx: Ctx, exc: InvalidInput, event_id: str) -> dict[str, str]:
    """Each problem as a sentence in the user's language, keyed by the form field."""
    specs = ctx.state.config.fields.get(event_id, {})
    out: dict[str, str] = {}
    for p in exc.problems:
        # Keyed by the form control's id: f.<field> in a declaration, d.<key> in a dialog.
        kind, _, key = p.field.partition(".")
        spec = specs.get(key) if kind == "declaration" else None
        element = {"declaration": "f.", "form": "d."}.get(kind, "") + key if key else p.field
        label = ctx._(spec.label) if spec else ctx._(key.capitalize())
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
    }
    if p.rule == "pattern" and spec is not None and spec.pattern_message:
        return ctx._(spec.pattern_message)
    if p.rule == "type" and spec is not None:
        kinds = {
            "date": _("%(label)s must be a date like 2024-03-31."),
            "number": _("%(label)s must be a number."),
        }
        if spec.type in kinds:
            return kinds[spec.type] % values
    limit = p.rule if p.rule in ("min", "max", "min_length", "max_length") else None
    if p.rule in texts and (limit is None or values.get(limit) is not None):
        return texts[p.rule] % values
    if ctx.lang.code == "en":
        return p.message
    return _("%(label)s is not valid.") % values


def _form_page(
    ctx: Ctx,
    event_id: str,
    row: RecordRow | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    action: ActionType | None = None,
) -> Response[str]:
    event = ctx.state.config.events[event_id]
    return show(
        ctx,
        "declaration.html",
        status,
        event=event,
        record=row,
        values=values,
        errors=errors,
        form_values=_dialog_values(ctx),
        action=action,
        action_label=CORE_ACTIONS[action].label if action else "",
        form_rules=dict(CORE_ACTIONS[action].form_rules) if action else {},
        storage_key=f"edge.form.{row.state.id if row else 'new-' + event_id}",
        draft_saved=bool(row and errors and row.state.status is Status.DRAFT),
    )


def _dialog_values(ctx: Ctx) -> dict[str, str]:
    return {k[2:]: v for k, v in ctx.form.items() if k.startswith("d.")}


def _dialog_page(
    ctx: Ctx,
    row: RecordRow,
    kind: ActionType,
    custom: str | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response[str]:
    action = ctx.state.config.custom.get(custom or "") if kind is ActionType.CUSTOM else None
    if kind is ActionType.CUSTOM and action is None:
        return not_found(ctx)
    return show(
        ctx,
        "dialog.html",
        status,
        record=row,
        kind=kind,
        custom=action,
        label=action.name if action else CORE_ACTIONS[kind].label,
        form_rules=dict(CORE_ACTIONS[kind].form_rules) if kind is not ActionType.CUSTOM else {},
        values=values,
        errors=errors,
        form_values=_dialog_values(ctx),
    )


@get("/records/{record_id:str}/print")
async def print_page(
    request: Request[Any, Any, Any], state: State, record_id: FromPath[str]
) -> Response[Any]:
    ctx = await enter(request, state)
    row = _readable(ctx, record_id)
    if row is None:
        return not_found(ctx)
    timeline = await asyncio.to_thread(state.reader.timeline, record_id)
    accepted = any(e.type is ActionType.REGISTER and s.state == "accepted" for e, s in timeline)
    return show(
        ctx,
        "print.html",
        record=row,
        event=state.config.events.get(row.state.event_type),
        final=accepted and row.state.status is Status.REGISTERED,
    )


# --- outbox, status, help ----------------------------------------------------------------


@get("/outbox")
async def outbox_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    page = _int(request.query_params.get("page"), 1)
    rows, total = await asyncio.to_thread(state.reader.outbox, ctx.me.actor, page, PAGE_SIZE)
    names = state.reader.user_names({r["created_by"] for r in rows})
    items = [
        {
            **r,
            "label": _outbox_label(r["type"], r["payload"]),
            "by": names.get(r["created_by"], ""),
            "at": ctx.when(r["created_at"]),
            "next_try": ctx.when(r["next_try_at"]),
            "discarded_at": ctx.when(r["discarded_at"]),
        }
        for r in rows
    ]
    summary = state.reader.sync_summary()
    return show(
        ctx,
        "outbox.html",
        items=items,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        summary=summary,
        last_success=ctx.when(summary["last_success_at"]),
        next_try=ctx.when(summary["next_try_at"]),
    )


def _outbox_label(type_: str, payload: str) -> str:
    if type_ == ActionType.CUSTOM:
        return str(json.loads(payload).get("audit") or "Custom action")
    return CORE_ACTIONS[ActionType(type_)].label


@get("/ui/status")
async def status(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """The banner's state, for the page script that updates it without a reload."""
    ctx = Ctx(request, state, _lang(request, state))
    ctx.caller = await asyncio.to_thread(_caller, request, state)
    if ctx.caller is None:
        return Response({"banner": None}, status_code=401)
    found = await asyncio.to_thread(banner, ctx)
    html = render(
        ctx.lang,
        "banner.html",
        {"banner": found, "csrf": ctx.caller.session.csrf_token if ctx.caller.session else ""},
    )
    return Response({"banner": found["kind"] if found else None, "html": html})


@post("/ui/dismiss-sent")
async def dismiss_sent(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    response: Response[Any] = Redirect(_safe_next(ctx.form.get("next")))
    response.delete_cookie(OFFLINE_COOKIE, path="/")
    return response


@get("/help")
async def help_page(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    ctx = await enter(request, state)
    return show(ctx, "help.html")


def not_found(ctx: Ctx) -> Response[str]:
    return show(
        ctx,
        "message.html",
        404,
        title=ctx._("Not found"),
        message=ctx._("There is no such page or record on this box, or you may not see it."),
    )


def page_error(request: Request[Any, Any, Any], exc: EdgeError) -> Response[str]:
    """An error no page handled, as a page in the user's language (never a stack trace)."""
    state = request.app.state
    ctx = Ctx(request, state, _lang(request, state))
    ctx.caller = _caller(request, state)
    title = ctx._("Not found") if exc.status == 404 else ctx._(exc.title)
    return show(ctx, "message.html", exc.status, title=title, message=say(ctx, exc.detail))
