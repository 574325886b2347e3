"""Supporting documents on the pages: taken from a declaration form (checked by their content
and the size limits, every problem named), kept with the form through the review until its
action attaches them, listed on the review and the record, and given back to whoever may read
the record."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.params import FromPath

from edge.clock import utcnow
from edge.ids import is_uuid
from edge.journal import attachments
from edge.journal.attachments import Stored
from edge.state import BoxState
from edge.web.context import Ctx, enter, not_found
from edge.web.messages import say, sentence
from edge.workflow.documents import DocumentRef, DocumentType, clean_name, refs_of, sniff
from edge.workflow.fold import Entry
from edge.workflow.rules import can_read

FILE_FIELD = "doc."  # a file control per document type: doc.<type id>
KEPT_FIELD = "docs"  # the documents kept with the form so far, by id, comma-separated
REMOVE_FIELD = "doc_remove."  # a box ticked to take one off the form: doc_remove.<id>


@dataclass
class FormDocuments:
    """A posted form's documents: those kept with it (staged), and what was wrong, by form
    control (a file refused is not kept)."""

    refs: list[DocumentRef] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def kept(self) -> str:
        return ",".join(r.id for r in self.refs)


def size_text(ctx: Ctx, size: int, limit: bool = False) -> str:
    """A size as people read it: 230 KB, 4.8 MB. A limit is never shown larger than it is
    (rounded down to a tenth: 20000 bytes is 19.5 KB, not 20), so a file the text allows
    is never refused."""
    if limit:
        unit, fmt = (1_048_576, "%(num)s MB") if size >= 1_048_576 else (1024, "%(num)s KB")
        tenths = size * 10 // unit
        num = f"{tenths // 10}.{tenths % 10}".removesuffix(".0")
        return ctx._(fmt) % {"num": num}
    if size >= 1_048_576:
        return ctx._("%(num)s MB") % {"num": f"{size / 1_048_576:.1f}".removesuffix(".0")}
    if 0 < size < 1024:  # a small file is not rounded up to a kilobyte it does not fill
        return ctx._("less than 1 KB")
    return ctx._("%(num)s KB") % {"num": round(size / 1024)}


def types_of(ctx: Ctx, event_id: str) -> dict[str, DocumentType]:
    return ctx.state.config.documents.get(event_id, {})


async def take(ctx: Ctx, event_id: str, record_id: str | None) -> FormDocuments:
    """The documents of a posted declaration form: those it kept (less those ticked off) and
    those sent with it now, checked and then staged on the box. A file refused is named with
    the rule it broke; the others sent with it are kept (a browser cannot give them back to
    the form), unless the limits of the record as a whole are what was broken."""
    me, s, _ = ctx.me.user.id, ctx.state.settings, ctx._
    types = types_of(ctx, event_id)
    wanted = [i for i in ctx.form.get(KEPT_FIELD, "").split(",") if is_uuid(i)]
    removed = [i for i in wanted if f"{REMOVE_FIELD}{i}" in ctx.form]
    wanted = [i for i in wanted if i not in removed][: s.documents_max_per_record]
    conn = ctx.state.reader.conn()
    if removed:
        await ctx.state.journal.run_async(
            partial(attachments.discard_staged, ids=removed, user_id=me)
        )
    got = FormDocuments(attachments.staged(conn, wanted, me))
    if len(got.refs) < len(wanted):
        got.errors[KEPT_FIELD] = say(ctx, attachments.GONE)
    new: list[tuple[str, str, str, bytes]] = []
    for up in ctx.files:
        spec = types.get(up.field.removeprefix(FILE_FIELD))
        media = sniff(up.head)
        named = {"name": clean_name(up.filename, media), "label": ""}
        if spec is None or not up.field.startswith(FILE_FIELD):
            # No control of the form shows it: said with the documents as a whole.
            got.errors.setdefault(
                KEPT_FIELD, _("“%(name)s” was sent for no document of this form.") % named
            )
            continue
        named["label"] = ctx._(spec.label)
        if up.size == 0:
            problem = _("%(label)s: “%(name)s” is empty. Choose the file again.")
        elif up.data is None:
            named["limit"] = size_text(ctx, s.documents_max_file_bytes, limit=True)
            problem = _(
                "%(label)s: “%(name)s” is larger than %(limit)s. Scan it again at a lower "
                "resolution, or as separate pages."
            )
        elif media is None:
            problem = _(
                "%(label)s: “%(name)s” is not a JPEG, PNG or PDF file (checked by its content, "
                "not its name). Scan it again as a PDF or take a photo."
            )
        else:
            new.append((spec.id, str(named["name"]), media, up.data))
            continue
        got.errors.setdefault(up.field, problem % named)
    existing = attachments.on_record(conn, record_id) if record_id else []
    count = len(existing) + len(got.refs) + len(new)
    total = sum(d.ref.size for d in existing) + sum(r.size for r in got.refs)
    total += sum(len(n[3]) for n in new)
    if count > s.documents_max_per_record:
        got.errors[KEPT_FIELD] = _(
            "Too many documents: a record may have at most %(num)d. Take some off the form."
        ) % {"num": s.documents_max_per_record}
    elif total > s.documents_max_record_bytes:
        got.errors[KEPT_FIELD] = _(
            "The documents together are larger than %(limit)s, the most one record may have. "
            "Scan them at a lower resolution."
        ) % {"limit": size_text(ctx, s.documents_max_record_bytes, limit=True)}
    elif new and attachments.staged_bytes(conn, me) + total > 2 * s.documents_max_record_bytes:
        got.errors[KEPT_FIELD] = _(
            "You have many documents on forms not saved yet. Save or cancel those forms first."
        )
    if KEPT_FIELD in got.errors or not new:
        return got

    def stage(c: Any) -> list[DocumentRef]:
        now = utcnow()
        return [attachments.stage(c, t, n, m, data, me, now) for t, n, m, data in new]

    got.refs += await ctx.state.journal.run_async(stage)
    return got


def rows(ctx: Ctx, event_id: str, refs: list[DocumentRef]) -> list[dict[str, Any]]:
    """Documents as the pages list them: type, name, size, and the link to see each."""
    types = types_of(ctx, event_id)
    return [
        {
            "id": r.id,
            "name": r.name,
            "label": ctx._(types[r.type].label) if r.type in types else r.type,
            "size": size_text(ctx, r.size),
            "href": f"/documents/{r.id}",
        }
        for r in refs
    ]


def record_rows(ctx: Ctx, event_id: str, timeline: list[tuple[Entry, Any]]) -> list[dict[str, Any]]:
    """A record's documents, from the actions that attached them (the journal says what the
    record has); one not kept on this box (attached at another office) has no link."""
    refs = [d for e, _ in timeline for d in refs_of(e.payload)]
    conn = ctx.state.reader.conn()
    here = {r.id: attachments.find(conn, r.id) for r in refs}
    out = rows(ctx, event_id, refs)
    for row in out:
        stored = here[row["id"]]
        if stored is None:
            row["href"] = None
        row["sent"] = stored is None or stored.sent_at is not None
    return out


OUTBOX_ROWS = 50


def outbox_rows(ctx: Ctx) -> list[dict[str, Any]]:
    """The outbox's documents: those not yet complete at the registry, how far each got,
    and what it waits for."""
    out = []
    for d in attachments.waiting(ctx.state.reader.conn(), OUTBOX_ROWS):
        types = types_of(ctx, str(d["event_type"] or ""))
        out.append(
            {
                **d,
                "label": ctx._(types[d["type"]].label) if d["type"] in types else d["type"],
                "progress": ctx._("%(sent)s of %(size)s")
                % {
                    "sent": size_text(ctx, int(d["sent_bytes"])),
                    "size": size_text(ctx, int(d["size"])),
                },
                "error": sentence(say(ctx, str(d["last_error"]))) if d["last_error"] else "",
            }
        )
    return out


@get("/documents/{document_id:str}")
async def document(
    request: Request[Any, Any, Any], state: BoxState, document_id: FromPath[str]
) -> Response[Any]:
    """A document's bytes, for whoever may read its record (or its uploader, before the
    form's action attached it); any other asker is told there is no such page."""
    ctx = await enter(request, state)
    found = attachments.find(state.reader.conn(), document_id) if is_uuid(document_id) else None
    if found is None or not _may_see(ctx, found):
        return not_found(ctx)
    data = await asyncio.to_thread(_read, state, found.ref.id)
    download = request.query_params.get("download") == "1"
    return Response(data, media_type=found.ref.media_type, headers=served(found.ref, download))


def _may_see(ctx: Ctx, doc: Stored) -> bool:
    if doc.staged or doc.record_id is None:
        return doc.uploaded_by == ctx.me.user.id
    row = ctx.state.reader.record(doc.record_id)
    return row is not None and can_read(row.state, ctx.me.actor)


def _read(state: BoxState, document_id: str) -> bytes:
    return b"".join(attachments.chunks(state.reader.conn(), document_id))


# What a document may do once shown: nothing. No script, no form, no other origin, no
# framing by another site. An image is also sandboxed; a PDF is not, since a sandbox turns
# off the browser's PDF viewer (which runs no script of the file's anyway).
_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; form-action 'none'"


def served(ref: DocumentRef, download: bool) -> dict[str, str]:
    """The headers a document is given back with."""
    ascii_name = ref.name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    kind = "attachment" if download else "inline"
    pdf = ref.media_type == "application/pdf"
    return {
        "content-disposition": f'{kind}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(ref.name, safe='')}",
        "x-content-type-options": "nosniff",
        "content-security-policy": _CSP
        + ("; object-src 'self'" if pdf else "; img-src 'self'; sandbox"),
        "cache-control": "no-store",
        "referrer-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
    }
