"""The web UI's routes."""

from __future__ import annotations

from litestar import Router
from litestar.static_files import create_static_files_router

from edge.errors import EdgeError
from edge.web import users
from edge.web.pages import (
    Answer,
    action_page,
    answer,
    bring_record,
    change_password,
    create_record,
    dismiss_sent,
    help_page,
    home,
    keepalive,
    login,
    login_page,
    logout,
    new_record_page,
    outbox_page,
    page_error,
    password_page,
    perform,
    print_page,
    queue_page,
    record_page,
    search_page,
    set_language,
    status,
)
from edge.web.render import TEMPLATES


def web_router() -> Router:
    """Every page, and the box's own stylesheet and script."""
    static = create_static_files_router(
        path="/static", directories=[TEMPLATES.parent / "static"], include_in_schema=False
    )
    return Router(
        path="/",
        route_handlers=[
            login_page,
            login,
            logout,
            password_page,
            change_password,
            set_language,
            home,
            queue_page,
            search_page,
            bring_record,
            new_record_page,
            create_record,
            record_page,
            action_page,
            perform,
            print_page,
            outbox_page,
            status,
            keepalive,
            dismiss_sent,
            help_page,
            users.users_page,
            users.new_user_page,
            users.create_user,
            users.reset_page,
            users.reset_password,
            users.unlock,
            users.deactivate,
            users.reactivate,
            static,
        ],
        include_in_schema=False,
        exception_handlers={EdgeError: page_error, Answer: answer},
    )
