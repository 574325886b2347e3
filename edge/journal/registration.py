"""What the box knows of a record's registration at the registry: whether (and since when)
the registry accepted it, and the registration number it gave. Read for certified copies."""

from __future__ import annotations

from edge.journal.reads import Reader


def registered_final_at(reader: Reader, record_id: str) -> str | None:
    """When (box time) this box learnt that the registry accepted the record's latest
    registration; None while it has not. A copy printed before then is a draft."""
    conn = reader.conn()
    row = conn.execute(
        "SELECT MAX(COALESCE(s.updated_at, r.received_at)) FROM actions a "
        "LEFT JOIN sync_state s ON s.action_id = a.id AND s.state = 'accepted' "
        "LEFT JOIN registry_actions r ON r.id = a.id "
        "WHERE a.record_id = ? AND a.type = 'REGISTER' "
        "AND (s.action_id IS NOT NULL OR r.id IS NOT NULL)",
        (record_id,),
    ).fetchone()
    if row and row[0]:
        return str(row[0])
    copied = conn.execute(
        "SELECT MAX(received_at) FROM registry_actions WHERE record_id = ? AND type = 'REGISTER'",
        (record_id,),
    ).fetchone()
    return str(copied[0]) if copied and copied[0] else None


def registration_number(reader: Reader, record_id: str) -> str | None:
    """The number the registry gave the record's latest registration it accepted."""
    row = (
        reader.conn()
        .execute(
            "SELECT s.registration_number FROM actions a "
            "JOIN sync_state s ON s.action_id = a.id "
            "WHERE a.record_id = ? AND s.registration_number IS NOT NULL "
            "ORDER BY a.seq DESC LIMIT 1",
            (record_id,),
        )
        .fetchone()
    )
    return str(row[0]) if row else None
