"""The web UI's routes."""

from __future__ import annotations

from litestar import Router, get
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from edge.web import attachments, outbox, printing, records, session, users, workqueues
from edge.web.render import TEMPLATES


@get("/favicon.ico", sync_to_thread=False, include_in_schema=False, cache=86400)
def favicon() -> Redirect:
    """Browsers ask for /favicon.ico whatever a page links: the box's own icon."""
    return Redirect("/static/favicon.svg", status_code=301)


def web_router(upload_bytes: int) -> Router:
    """Every page, and the box's own stylesheet and script. The declaration forms, which may
    send documents, take bodies of up to `upload_bytes`; every other page the app's limit."""
    static = create_static_files_router(
        path="/static", directories=[TEMPLATES.parent / "static"], include_in_schema=False
    )
    declaration_forms = Router(
        path="/",
        route_handlers=[records.create_record, records.perform],
        request_max_body_size=upload_bytes,
        include_in_schema=False,
    )
    return Router(
        path="/",
        route_handlers=[
            session.login_page,
            session.login,
            session.logout,
            session.keepalive,
            session.password_page,
            session.change_password,
            session.set_language,
            workqueues.home,
            workqueues.queue_page,
            workqueues.search_page,
            workqueues.bring_record,
            records.new_record_page,
            records.record_page,
            records.action_page,
            declaration_forms,
            attachments.document,
            printing.print_page,
            outbox.outbox_page,
            outbox.status,
            outbox.dismiss_sent,
            outbox.send_now,
            outbox.help_page,
            users.users_page,
            users.new_user_page,
            users.create_user,
            users.reset_page,
            users.reset_password,
            users.unlock,
            users.deactivate_page,
            users.deactivate,
            users.reactivate,
            static,
            favicon,
        ],
        include_in_schema=False,
    )
