"""For bench/journal.py only: the same POST answered by a litestar app that does nothing with
it (no login, no journal), served the way `edge serve` serves. What the HTTP figures are
measured against: the most one Python process answers on this machine."""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, post


class RecordIn(msgspec.Struct):
    event_type: str
    declaration: dict[str, Any] = {}


class RecordOut(msgspec.Struct):
    id: str
    status: str


@post("/api/v1/records", status_code=201)
async def create(data: RecordIn) -> RecordOut:
    return RecordOut("00000000-0000-7000-8000-000000000000", "draft")


app = Litestar([create], debug=False, logging_config=None)

if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
