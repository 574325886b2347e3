"""Errors shown to people as pages: in their language, with the page around them, never a
stack trace or a JSON document. edge/handlers.py decides when a page is the answer."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from edge.state import BoxState
from edge.web.context import Ctx, page_caller, page_language, show, to_login
from edge.web.messages import say

# What a page says for HTTP errors raised before any page code ran.
HTTP_TEXTS = {
    400: ("This request is not valid", "Go back, reload the page and try again."),
    404: ("Not found", "There is no such page or record on this box, or you may not see it."),
    405: ("Not found", "There is no such page or record on this box, or you may not see it."),
    413: (
        "Too large",
        "What you sent is larger than the box accepts. Send less at a time, or a smaller file.",
    ),
    500: (
        "Something went wrong on the box",
        "The box could not finish this request, so nothing was changed by it. Try again; if it "
        "keeps happening, tell IT staff.",
    ),
}


def error_page(
    request: Request[Any, Any, Any], status: int, title: str, detail: str
) -> Response[str]:
    """A page saying what went wrong, in the user's language."""
    state = BoxState(request.app.state)
    ctx = Ctx(request, state, page_language(request, state))
    ctx.caller = page_caller(request, state, False)
    return show(ctx, "message.html", status, title=ctx._(title), message=say(ctx, detail))


def http_error_page(request: Request[Any, Any, Any], status: int) -> Response[str]:
    title, detail = HTTP_TEXTS.get(status, HTTP_TEXTS[400 if status < 500 else 500])
    return error_page(request, status, title, detail)


def login_first(request: Request[Any, Any, Any]) -> Response[Any]:
    """Not logged in (or the session ended): the login page, then back here."""
    return to_login(request, {})
