"""What every page shares: who asks and in which language (`Ctx`), entering a page (login,
CSRF, a required password change), rendering with the page chrome (menus, banner, the
confirmation after a form post), and the answers given instead of a page."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.response import Redirect

from edge.auth.caller import COOKIE, LOGIN_REQUIRED, Caller, idle_limit, resolve
from edge.auth.sessions import needs_touch
from edge.clock import elapsed, local_date, now_moment, utcnow
from edge.errors import FieldProblem, InvalidInput, Unauthenticated
from edge.journal.notes import waiting_of
from edge.state import BoxState
from edge.web.i18n import LANGUAGES, Language, choose, translations
from edge.web.render import isolate, render, when
from edge.web.uploads import Upload, is_multipart, read_multipart
from edge.workflow.model import CORE_ACTIONS, FORM_LABELS, ActionType
from edge.workflow.rules import visible_queues

LANG_COOKIE = "edge_lang"
T = TypeVar("T")


SECURITY_HEADERS = {
    # Everything comes from the box: no CDN, no inline script, no other origin.
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    # A shared PC: Back after Log out must not bring the last user's pages out of a cache.
    "cache-control": "no-store",
}


# Set by a form post the box has carried out, read (and cleared) by the next page: it says
# what was saved, and tells the page script to forget that form's copy kept in the browser.
FLASH_COOKIE = "edge_flash"
# Set by Log out, cleared by the next login: until then no page the last user left (Back)
# becomes where the next person lands after logging in.
OUT_COOKIE = "edge_out"


@dataclass
class Ctx:
    """One page request: who asks, in which language, with which form values."""

    request: Request[Any, Any, Any]
    state: BoxState
    lang: Language
    caller: Caller | None = None
    form: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)  # sent with a declaration form

    @property
    def me(self) -> Caller:
        """The logged-in user (every page past `enter` has one)."""
        if self.caller is None:
            raise Unauthenticated(LOGIN_REQUIRED)
        return self.caller

    @property
    def _(self) -> Callable[[str], str]:
        return translations(self.lang.code).gettext

    @property
    def today(self) -> date:
        """The office's calendar day."""
        return local_date(utcnow(), self.state.settings.timezone)

    def when(self, stamp: str | None) -> str:
        return when(stamp, self.lang, self.state.settings.timezone)

    def office(self, office_id: str) -> str:
        """An office by its name where the box knows it (its own), else by its id."""
        settings = self.state.settings
        return (settings.office_name or office_id) if office_id == settings.office_id else office_id


def page_language(request: Request[Any, Any, Any], state: BoxState) -> Language:
    return choose(
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
        state.settings.language,
    )


def page_caller(request: Request[Any, Any, Any], state: BoxState, activity: bool) -> Caller | None:
    """The logged-in user of a page (a login session: pages take no API token)."""
    caller = resolve(request, state, now_moment(), activity=activity)
    return caller if caller is not None and caller.session is not None else None


async def page_read(ctx: Ctx, fn: Callable[..., T], *args: Any) -> T:
    """A page's reading of the journal, off the event loop; then the page waits its turn
    while a colleague's action is being saved (edge/saves_first.py)."""
    result = await _in_page_thread(ctx, fn, *args)
    await ctx.state.saves_first.turn()
    return result


async def _in_page_thread(ctx: Ctx, fn: Callable[..., T], *args: Any) -> T:
    """In the pages' own few threads (`state.page_threads`): however many pages are being
    built, the threads a save's own steps use stay free. The request's context (its log
    fields) goes along, as with asyncio.to_thread."""
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    return await asyncio.get_running_loop().run_in_executor(ctx.state.page_threads, call)


class EarlyResponse(Exception):
    """The answer given instead of the page (the login page, a required password change, a
    refused form); the app's error handler (edge/handlers.py) sends it."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__("answered instead of the page")
        self.response = response


async def enter(
    request: Request[Any, Any, Any], state: BoxState, *, password_page: bool = False
) -> Ctx:
    """The page's context for a logged-in user; otherwise raises the answer to give
    instead: the login page, the password change a reset requires, or a refusal of a form
    without the page's token."""
    ctx = Ctx(request, state, page_language(request, state))
    ctx.caller = await asyncio.to_thread(page_caller, request, state, True)
    if request.method == "GET":
        await state.saves_first.turn()  # between reading who it is and building the page
    if request.method == "POST" and is_multipart(request):
        # Files only from a logged-in user; a stranger's body is read for its fields only.
        limit = state.settings.documents_max_file_bytes
        ctx.form, ctx.files = await read_multipart(request, limit, ctx.caller is not None)
    elif request.method == "POST":
        # Only a form sending files may be larger (the routes that take them allow more).
        if (request.content_length or 0) > state.settings.max_request_bytes:
            raise RequestEntityTooLarge()
        ctx.form = await read_form(request)
    if ctx.caller is None:
        raise EarlyResponse(to_login(request, ctx.form))
    if request.method == "POST" and not ctx.caller.csrf_ok(ctx.form.get("csrf_token", "")):
        raise EarlyResponse(
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
        raise EarlyResponse(Redirect("/password"))
    return ctx


def to_login(request: Request[Any, Any, Any], form: dict[str, str]) -> Response[Any]:
    """The login page, then back where the user was. A form posted after the session ended
    goes back to the form's own page (the browser still holds what was typed)."""
    back = request.url.path
    if request.query_params:
        back += "?" + request.url.query
    if request.method == "POST":
        back = safe_next(form.get("back") or "/")
    ended = COOKIE in request.cookies
    if OUT_COOKIE in request.cookies:  # the page of someone who logged out: not theirs next
        return Redirect("/login")
    response: Response[Any] = Redirect(
        f"/login?next={quote(back, safe='')}" + ("&ended=1" if ended else "")
    )
    if ended:
        response.delete_cookie(COOKIE, path="/")
    return response


async def read_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """A page's form, refused (400) unless it is valid UTF-8: a browser always sends that,
    and reading anything else as Latin-1 would store mangled names."""
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        body = await request.body()
        try:
            pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            raise InvalidInput(
                [FieldProblem("form", "encoding", "The form was not sent as UTF-8 text")]
            ) from None
        return dict(pairs)
    data = await request.form()
    return {str(k): str(v) for k, v in data.items()}


def show(ctx: Ctx, template: str, status: int = 200, **context: Any) -> Response[str]:
    chrome = _chrome(ctx)
    return _page(render(ctx.lang, template, {**chrome, **context}), status, chrome["flash"])


async def show_off_loop(
    ctx: Ctx, template: str, status: int = 200, **context: Any
) -> Response[str]:
    """`show` for the pages colleagues browse all day (lists, search, outbox, a record): the
    template renders in a worker thread once no save is being served, so a colleague's save
    waits for the interpreter's next switch (1 ms) rather than for a whole page."""
    chrome = _chrome(ctx)
    await ctx.state.saves_first.turn()
    pause = ctx.state.saves_first.pause
    html = await _in_page_thread(ctx, render, ctx.lang, template, {**chrome, **context}, pause)
    return _page(html, status, chrome["flash"])


def _page(html: str, status: int, flash: Any) -> Response[str]:
    """The page's response: the security headers, and the confirmation shown once (`flash`)."""
    response = Response(html, media_type=MediaType.HTML, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _chrome(ctx: Ctx) -> dict[str, Any]:
    """What every page shows: the user, the office, the menus, the registry banner."""
    state = ctx.state
    chrome: dict[str, Any] = {
        "office": state.settings.office_name or state.settings.office_id,
        "office_id": state.settings.office_id,
        "languages": LANGUAGES.values(),
        "path": ctx.request.url.path,
        # Where this page is, query included (the language menu comes back here).
        "here": ctx.request.url.path
        + (f"?{ctx.request.url.query}" if ctx.request.url.query else ""),
        "user": None,
        "queues": [],
        "banner": None,
        "csrf": "",
        "events": state.config.events.values(),
        "manages_users": False,
        "may_declare": False,
        "flash": None,
        "session_left": 0,
        "idle_seconds": 0,
        "form_labels": FORM_LABELS,
        "one_line_keys": ("collector", "receipt", "requester"),
        "idem": form_key(ctx) or "",
    }
    caller = ctx.caller
    if caller is None:
        return chrome
    chrome["user"] = caller.user
    chrome["csrf"] = caller.session.csrf_token if caller.session else ""
    chrome["flash"] = _flash(ctx)
    chrome["session_left"] = session_left(ctx)
    chrome["idle_seconds"] = idle_limit(ctx.state).total_seconds()
    chrome["queues"] = visible_queues(caller.actor, state.config.workqueues)
    chrome["manages_users"] = any(s.name == "user.read" for s in caller.actor.scopes)
    chrome["may_declare"] = any(s.name == "record.create" for s in caller.actor.scopes)
    chrome["banner"] = banner(ctx)
    return chrome


def form_key(ctx: Ctx) -> str | None:
    """The idempotency key the posted form carried (each form gets one when rendered, kept
    when a refused form is shown again): a double press never does a thing twice."""
    key = ctx.form.get("idem", "")
    return key if 8 <= len(key) <= 64 and key.isalnum() else None


def done(ctx: Ctx, url: str, what: str, form: str = "", **values: str) -> Response[Any]:
    """After a form post the box carried out: go to `url` (a page that can be reloaded) and
    say there what was done (`what`: an action type or a key of FLASH_TEXTS, with its
    `values`); `form` names the form whose copy the browser may now forget."""
    response: Response[Any] = Redirect(url)
    cookie = urlencode({"what": what, "form": form, **values})
    response.set_cookie(
        FLASH_COOKIE, cookie, path="/", samesite="strict", httponly=True, max_age=300
    )
    return response


# What the page after a form post says; `%(name)s` is the person the change was about.
FLASH_TEXTS = {
    "user-created": "%(name)s can now log in with their one-time password.",
    "user-reset": "%(name)s has a one-time password: they choose their own at their next login.",
    "user-unlocked": "%(name)s can log in again.",
    "user-deactivated": "%(name)s can no longer log in.",
    "user-reactivated": "%(name)s can log in again.",
    "send-now": "The box is trying to send now. This page shows how it goes.",
    "draft-deleted": "The draft was deleted.",
    "already-sent": "This form had already been sent and saved on the box (its answer did not "
    "reach this computer). Here is the record; nothing was done twice.",
}


def _flash(ctx: Ctx) -> dict[str, str] | None:
    raw = ctx.request.cookies.get(FLASH_COOKIE, "")
    values = dict(parse_qsl(raw))
    what, form = values.pop("what", ""), values.pop("form", "")
    if not what:
        return None
    if what in FLASH_TEXTS:
        # A person's name in the sentence keeps its own direction ("Nour Ali" in Arabic).
        rtl = ctx.lang.direction == "rtl"
        named = {k: isolate(v, rtl) for k, v in values.items()}
        return {"message": ctx._(FLASH_TEXTS[what]) % named, "form": form}
    if what == ActionType.CREATE:
        message = ctx._("Draft saved on this box. Only you can see it until you send it.")
    elif what in CORE_ACTIONS or what == ActionType.CUSTOM:
        label = values.get("action") or CORE_ACTIONS[ActionType(what)].label
        message = ctx._(
            "%(action)s: saved on this box. It is sent to the national registry "
            "automatically; it is final only once the registry has accepted it."
        ) % {"action": ctx._(label)}
    else:
        message = ""
    return {"message": message, "form": form}


def session_left(ctx: Ctx) -> float:
    """Seconds until the login session ends if the user does nothing more (this request
    counted as activity)."""
    session = ctx.me.session
    idle = idle_limit(ctx.state)
    if session is None:
        return 0.0
    now = now_moment()
    quiet, age = elapsed(session.seen, now), elapsed(session.created, now)
    idle_left = idle if quiet is None or needs_touch(session, now, idle) else idle - quiet
    # The shift's limit (session_max_hours) ends it too, however busy the user is.
    life_left = session.lifetime - age if age is not None else idle_left
    return max(0.0, min(idle_left, life_left).total_seconds())


def banner(ctx: Ctx) -> dict[str, Any] | None:
    """The registry's state for the banner: `offline` (blue) while it is unreachable (as
    the pages' own probe saw it seconds ago, else as the sync worker last saw it), `sent`
    (green) for a user who saw the blue one with work of theirs waiting, once it has all
    been sent, until they dismiss it. Per user: the next person at a shared PC never sees
    the last one's."""
    summary = ctx.state.reader.sync_summary()
    if not summary["enrolled"]:
        return None
    now = ctx.state.watch.looked()
    reachable = summary["registry_reachable"] if now is None else now
    counts = summary["counts"]
    waiting = counts.get("pending", 0) + counts.get("sending", 0)
    user = ctx.me.user.id
    if reachable is False:
        # Only someone whose own work waits is told, later, that it was sent.
        seen = ctx.state.offline_seen
        if user not in seen and waiting_of(ctx.state.reader.conn(), user) > 0:
            seen.add(user)
        return {"kind": "offline", "waiting": waiting}
    if user in ctx.state.offline_seen and reachable:
        mine = waiting_of(ctx.state.reader.conn(), user)
        if mine == 0:
            return {"kind": "sent", "waiting": 0}
    return None


def not_found(ctx: Ctx) -> Response[str]:
    return show(
        ctx,
        "message.html",
        404,
        title=ctx._("Not found"),
        message=ctx._("There is no such page or record on this box, or you may not see it."),
    )


def safe_next(value: str | None) -> str:
    """Only a path on this box (never another site) after logging in."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    return parts.path + (f"?{parts.query}" if parts.query else "") if not parts.netloc else "/"
