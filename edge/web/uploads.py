"""Reading a page's form that sends files (multipart/form-data): in memory, never in a file
on disk (a scan is personal data: it is written once, into journal.db), and bounded.

The bounds: the route's body limit (settings `documents_max_record_bytes` plus
`max_request_bytes`, enforced by Litestar as the bytes arrive); a file's bytes are kept only
up to `documents_max_file_bytes` (a larger one is counted, refused by name, and dropped);
at most MAX_PARTS parts; and only UPLOADS_AT_ONCE such forms read at a time, so a device on
the LAN sending many large bodies at once cannot fill the box's memory (the others wait,
their bytes held back by TCP, not here). A caller that is not logged in gets the text
fields only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser

from edge.errors import FieldProblem, InvalidInput

MAX_PARTS = 200
FIELD_MAX = 1_048_576  # a text field of a form: far more than anyone types
UPLOADS_AT_ONCE = 2
_HEAD = 16
_gate: dict[int, asyncio.Semaphore] = {}


@dataclass(frozen=True)
class Upload:
    """A file sent with a form: its control's name, its name as sent, its size, its first
    bytes, and its bytes when no larger than the limit the form was read with."""

    field: str
    filename: str
    size: int
    head: bytes
    data: bytes | None


def _semaphore() -> asyncio.Semaphore:
    loop = id(asyncio.get_running_loop())
    if loop not in _gate:
        _gate[loop] = asyncio.Semaphore(UPLOADS_AT_ONCE)
    return _gate[loop]


def is_multipart(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("content-type", "").startswith("multipart/form-data")


async def read_multipart(
    request: Request[Any, Any, Any], file_limit: int, keep_files: bool = True
) -> tuple[dict[str, str], list[Upload]]:
    """The form's text fields (the first value of each name) and its files."""
    boundary = request.content_type[1].get("boundary", "")
    if not boundary:
        raise InvalidInput([FieldProblem("form", "encoding", "The form has no boundary")])
    async with _semaphore():
        try:
            return await _parse(request, boundary, file_limit if keep_files else -1)
        except RequestEntityTooLarge:
            raise  # the route's body limit, as the bytes arrived: 413, nothing kept
        except ParserLimitReached:
            raise InvalidInput(
                [FieldProblem("form", "parts", f"The form has more than {MAX_PARTS} parts")]
            ) from None
        except (MultipartError, ClientException):
            raise InvalidInput(
                [FieldProblem("form", "encoding", "The form was not sent whole or not valid")]
            ) from None


class _Part:
    def __init__(self, segment: MultipartSegment, file_limit: int) -> None:
        self.name = segment.name or ""
        self.filename = segment.filename
        self.is_file = self.filename is not None
        self.limit = file_limit if self.is_file else FIELD_MAX
        self.size = 0
        self.head = b""
        self.data = bytearray()

    def add(self, chunk: bytes) -> None:
        if len(self.head) < _HEAD:
            self.head += chunk[: _HEAD - len(self.head)]
        self.size += len(chunk)
        if self.size <= self.limit:
            self.data += chunk
        elif self.data:
            self.data = bytearray()  # too large: nothing of it is kept


async def _parse(
    request: Request[Any, Any, Any], boundary: str, file_limit: int
) -> tuple[dict[str, str], list[Upload]]:
    fields: dict[str, str] = {}
    files: list[Upload] = []
    part: _Part | None = None
    with PushMultipartParser(boundary, max_segment_count=MAX_PARTS) as parser:
        async for chunk in request.stream():
            for event in parser.parse(chunk):
                if isinstance(event, MultipartSegment):
                    part = _Part(event, file_limit)
                elif event is not None and part is not None:
                    part.add(event)
                elif part is not None:
                    _done(part, fields, files)
                    part = None
    return fields, files


def _done(part: _Part, fields: dict[str, str], files: list[Upload]) -> None:
    if part.is_file:
        if part.size or part.filename:  # a file control left empty sends neither
            kept = bytes(part.data) if part.size <= part.limit else None
            files.append(Upload(part.name, part.filename or "", part.size, part.head, kept))
        return
    if part.size > part.limit:
        raise InvalidInput([FieldProblem(part.name, "max_length", "is too long")])
    try:
        text = part.data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            [FieldProblem("form", "encoding", "The form was not sent as UTF-8 text")]
        ) from None
    fields.setdefault(part.name, text)
