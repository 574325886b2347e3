"""What a push batch carries so the registry can check the box's history: the links of the
box's hash chain the batch skips, the users who made its actions, and after `edge restore`
the entry the chain goes on from (docs/sync-protocol.md, "The box's chain").

A batch skips the actions held back behind a refused one, those discarded when a lease moved,
and those answered before; the registry says how far it holds the chain (`chain_linked`), so
each batch links only what lies between that and its last action.
"""

from __future__ import annotations

from edge.journal.boxvalues import box_value, set_box_value
from edge.journal.chain import GENESIS
from edge.journal.db import sqlite3
from upstream_sync.protocol import ChainLink, UserInfo, WireAction

# Links per batch at most (about 150 bytes each): a box far ahead of what the registry holds
# of its chain catches up over several batches.
MAX_LINKS = 5000


def skipped(
    conn: sqlite3.Connection, after: int, actions: list[WireAction]
) -> tuple[list[ChainLink], list[WireAction]]:
    """The links of the entries between what the registry holds (or `after`, the batch in
    flight) and the batch's last action that the batch does not carry; and the actions that
    can go with them (those beyond MAX_LINKS links wait for the next batch)."""
    if not actions:
        return [], []
    start = max(int(box_value(conn, "chain_linked") or 0), after)
    if actions[0].seq == start + 1 and actions[-1].seq - start == len(actions):
        return [], actions  # the batch goes on from the registry's chain without a gap
    sent = {a.seq for a in actions}
    rows = conn.execute(
        "SELECT seq, prev_hash, hash FROM actions WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?",
        (start, actions[-1].seq, MAX_LINKS + len(actions)),
    )
    links = [ChainLink(*r) for r in rows if r[0] not in sent]
    if len(links) <= MAX_LINKS:
        return links, actions
    links = links[:MAX_LINKS]
    return links, [a for a in actions if a.seq < links[-1].seq]


def link(a: WireAction) -> ChainLink:
    return ChainLink(a.seq, a.prev_hash, a.hash)


def restart(conn: sqlite3.Connection) -> ChainLink | None:
    """The entry a restored journal ends with, until the registry has been told."""
    at = box_value(conn, "chain_restart")
    if not at:
        return None
    row = conn.execute("SELECT seq, prev_hash, hash FROM actions WHERE seq = ?", (int(at),))
    found = row.fetchone()
    return ChainLink(*found) if found else ChainLink(0, "", GENESIS)


def answered(conn: sqlite3.Connection, chain_seq: int, restarted: bool) -> None:
    """The registry answered a batch: how far it holds the chain (and it knows of a restart)."""
    set_box_value(conn, "chain_linked", str(chain_seq))
    if restarted:
        conn.execute("DELETE FROM box WHERE key = 'chain_restart'")


def users_of(conn: sqlite3.Connection, actions: list[WireAction]) -> list[UserInfo]:
    """The box's users who made these actions, as the registry is told of them."""
    ids = sorted({a.created_by for a in actions})
    if not ids:
        return []
    rows = conn.execute(
        "SELECT id, username, display_name, role, office_id, active FROM users "
        f"WHERE id IN ({', '.join('?' * len(ids))})",
        ids,
    )
    return [UserInfo(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]
