"""The office pages' forms driven over HTTP, as a browser sends them (a login session, the
page's token and idempotency key, multipart bodies with files)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from edge.commands.init import DEMO_PASSWORD
from tests.helpers import Box

# Small real files: what each kind starts with, then padding.
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00\x01" * 700
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x07" * 900 + b"\xff\xd9"
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"

Files = list[tuple[str, tuple[str, bytes, str]]]


class WebUser:
    """A person using the pages: logged in with the login form, cookies kept."""

    def __init__(self, box: Box, username: str, password: str = DEMO_PASSWORD, lang: str = "en"):
        self.http = httpx.Client(base_url=box.url, follow_redirects=False, timeout=60)
        self.http.cookies.set("edge_lang", lang)
        r = self.http.post("/login", data={"username": username, "password": password})
        if r.status_code != 302:
            raise AssertionError(f"login as {username}: {r.status_code}")

    def tokens(self, path: str) -> dict[str, str]:
        """The hidden fields a page's form carries (its token and idempotency key)."""
        html = self.http.get(path).text
        return {
            name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
            for name in ("csrf_token", "idem")
        }

    def new_record(
        self,
        event: str,
        values: dict[str, str],
        then: str,
        files: Files | None = None,
        **extra: str,
    ) -> httpx.Response:
        """Post the new-declaration form with this button (REVIEW, DECLARE, NOTIFY, "")."""
        data: dict[str, Any] = {
            **self.tokens(f"/records/new?event={event}"),
            "event": event,
            "then": then,
            **{f"f.{k}": v for k, v in values.items()},
            **extra,
        }
        return self.http.post("/records/new", data=data, files=files or None)


def kept_documents(html: str) -> str:
    """The ids of the documents a form or review page keeps (its `docs` field)."""
    found = re.search(r'name="docs" value="([^"]*)"', html)
    return found.group(1) if found else ""


def errors(html: str) -> list[str]:
    """The problems a page names at its fields."""
    return [
        re.sub(r"&#3?9;|&#x27;", "'", e)
        for e in re.findall(r'class="field-error[^"]*"[^>]*>([^<]+)<', html)
    ]
