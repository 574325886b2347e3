"""Health and metrics: `/healthz` (the process answers), `/readyz` (it can do its work) and
`/metrics` (Prometheus text). Health answers reveal no data and need no login."""

from __future__ import annotations

import ipaddress
import logging
import shutil
import time
from datetime import timedelta
from typing import Any

from litestar import Request, Response, get
from litestar.enums import MediaType, ScopeType
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ASGIApp, Receive, Scope, Send

from edge.auth.guards import holds_scope
from edge.clock import elapsed, iso_ms, now_moment, parse_iso, utcnow
from edge.errors import Forbidden
from edge.http.schemas import Health, Readiness
from edge.journal.boxvalues import moment_value, set_box_value
from edge.journal.syncstages import not_pushing
from edge.logs import begin
from edge.state import BoxState

log = logging.getLogger("edge.http")


def latency_middleware(app: ASGIApp) -> ASGIApp:
    """Gives every HTTP request a log id and times it into the app's histogram."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        begin("req")  # this request's log lines carry its id
        start = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            seconds = time.perf_counter() - start
            scope["app"].state.latency.observe(seconds)
            log.debug("%s %s in %.1f ms", scope["method"], scope["path"], seconds * 1000)

    return middleware


@get("/healthz", operation_id="health", tags=["health"])
async def healthz() -> Health:
    """The web process is alive (no data, no login needed)."""
    return Health("ok")


def readiness(state: BoxState) -> dict[str, bool]:
    """Each check: the database takes a write, the disk has room, the worker is alive, and
    it pushes when actions wait and the registry answers."""
    settings = state.settings
    checks = {"database": True, "disk": True, "worker": True, "pushing": True}
    try:
        state.journal.run(lambda c: set_box_value(c, "ready_checked_at", iso_ms(utcnow())))
    except Exception:  # any failure to commit means not ready
        checks["database"] = False
    free = shutil.disk_usage(settings.home).free
    checks["disk"] = free >= settings.disk_min_free_mb * 1024 * 1024
    conn, now = state.reader.conn(), now_moment()
    beat = moment_value(conn, "worker_heartbeat")
    since = elapsed(beat, now) if beat else None  # by the time since boot: clock steps
    checks["worker"] = since is not None and since <= timedelta(
        minutes=settings.worker_stale_minutes
    )
    stalled = timedelta(minutes=settings.push_stalled_minutes)
    checks["pushing"] = not_pushing(conn, now, stalled) is None
    return checks


@get(
    "/readyz",
    operation_id="ready",
    tags=["health"],
    sync_to_thread=True,
    responses={503: ResponseSpec(data_container=Readiness, description="Not ready: see checks")},
)
def readyz(state: BoxState) -> Response[Readiness]:
    """Ready to work: the database takes a write, the disk has room, the sync worker's
    heartbeat is fresh and it pushes what waits while the registry answers. 503 names what
    is not (no data, no login needed)."""
    if state.locked:  # nothing can be read or written until someone unlocks the box
        return Response(Readiness("locked", {"unlocked": False}), status_code=503)
    checks = readiness(state)
    ok = all(checks.values())
    return Response(
        Readiness("ready" if ok else "not ready", checks), status_code=200 if ok else 503
    )


@get(
    "/metrics",
    operation_id="metrics",
    tags=["health"],
    sync_to_thread=True,
    media_type=MediaType.TEXT,
    response_description="Prometheus text exposition format (version 0.0.4)",
)
def metrics(request: Request[Any, Any, Any], state: BoxState) -> Response[str]:
    """Prometheus text: what waits for the registry, the last exchanges, the WAN, refused
    actions, request latency, database size and free disk."""
    _may_read_metrics(request, state)
    reader, settings = state.reader, state.settings
    summary = reader.sync_summary()
    counts = summary["counts"]
    oldest = reader.oldest_waiting()
    now = utcnow()
    reachable = summary["registry_reachable"]
    db_bytes = sum(p.stat().st_size for p in settings.home.glob("journal.db*") if p.is_file())
    values: list[tuple[str, str, str, float]] = [
        (
            "edge_actions_waiting",
            "gauge",
            "Actions not yet sent to the registry.",
            counts.get("pending", 0) + counts.get("sending", 0),
        ),
        (
            "edge_oldest_waiting_action_age_seconds",
            "gauge",
            "Age of the oldest action waiting to be sent (0 when none).",
            (now - parse_iso(oldest)).total_seconds() if oldest else 0,
        ),
        (
            "edge_actions_rejected",
            "gauge",
            "Actions the registry refused.",
            counts.get("rejected", 0),
        ),
        (
            "edge_actions_conflict",
            "gauge",
            "Actions in conflict with the registry.",
            counts.get("conflict", 0),
        ),
        (
            "edge_actions_discarded",
            "gauge",
            "Actions discarded (lease revoked).",
            counts.get("discarded", 0),
        ),
        (
            "edge_last_push_success_timestamp_seconds",
            "gauge",
            "When a push last succeeded (Unix time, 0 never).",
            _unix(summary["last_success_at"]),
        ),
        (
            "edge_last_pull_success_timestamp_seconds",
            "gauge",
            "When a pull last succeeded (Unix time, 0 never).",
            _unix(summary["last_pull_at"]),
        ),
        (
            "edge_registry_reachable",
            "gauge",
            "1 if the registry answered at the last exchange, 0 if not, -1 never tried.",
            -1 if reachable is None else int(reachable),
        ),
        ("edge_database_bytes", "gauge", "Size of the journal database and its WAL.", db_bytes),
        (
            "edge_disk_free_bytes",
            "gauge",
            "Free disk where the box keeps its data.",
            shutil.disk_usage(settings.home).free,
        ),
    ]
    lines = []
    for name, kind, help_, value in values:
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value:g}"]
    name = "edge_http_request_duration_seconds"
    lines += [f"# HELP {name} Time to answer HTTP requests.", f"# TYPE {name} histogram"]
    lines += state.latency.lines(name)
    return Response(
        "\n".join(lines) + "\n", media_type=MediaType.TEXT, headers={"cache-control": "no-store"}
    )


def _may_read_metrics(request: Request[Any, Any, Any], state: BoxState) -> None:
    access = state.settings.metrics_access
    if access == "open":
        return
    if access == "lan":
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise Forbidden("Metrics are readable from the office network only") from None
        if address.is_private or address.is_loopback or address.is_link_local:
            return
        raise Forbidden("Metrics are readable from the office network only")
    if not holds_scope(request, "user.read"):
        raise Forbidden("Metrics need the API token of a user who manages users")


def _unix(stamp: str | None) -> float:
    return parse_iso(stamp).timestamp() if stamp else 0.0
