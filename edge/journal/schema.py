"""Versioned schema migrations of journal.db (PRAGMA user_version)."""

from __future__ import annotations

from edge.errors import EdgeError
from edge.journal import attachments, notes
from edge.journal.db import sqlite3

# The sync worker's stages as the box keys of schema 4 held them (a `resync` asked for by
# `edge restore` waits for the next round, wherever it stopped): for migration 5, and for
# reading a database not migrated yet.
LEGACY_SYNC_KEYS = (
    "sync_next_try",
    "sync_last_error",
    "sync_last_success",
    "sync_last_pull",
    "sync_last_pull_error",
    "resync",
)
LEGACY_SYNC_STAGES = """
    WITH b AS (SELECT
        (SELECT NULLIF(value, '') FROM box WHERE key = 'sync_next_try') AS next_try,
        (SELECT NULLIF(value, '') FROM box WHERE key = 'sync_last_error') AS push_error,
        (SELECT NULLIF(value, '') FROM box WHERE key = 'sync_last_success') AS push_done,
        (SELECT NULLIF(value, '') FROM box WHERE key = 'sync_last_pull') AS pull_done,
        (SELECT NULLIF(value, '') FROM box WHERE key = 'sync_last_pull_error') AS pull_error,
        (SELECT value FROM box WHERE key = 'resync') AS resync)
    SELECT 'push' AS name,
        CASE WHEN next_try IS NOT NULL THEN 'waiting' WHEN push_error IS NOT NULL THEN 'failed'
            WHEN push_done IS NOT NULL THEN 'done' ELSE 'idle' END AS status,
        CASE WHEN next_try IS NULL AND push_error IS NULL THEN push_done END AS since,
        push_error AS last_error, next_try,
        push_error IS NOT NULL AS attempts, push_done AS updated_at, push_done AS last_done
    FROM b
    UNION ALL
    SELECT 'pull', CASE WHEN pull_error IS NOT NULL THEN 'failed'
            WHEN pull_done IS NOT NULL THEN 'done' ELSE 'idle' END,
        CASE WHEN pull_error IS NULL THEN pull_done END, pull_error, NULL,
        pull_error IS NOT NULL, pull_done, pull_done
    FROM b
    UNION ALL
    SELECT 'resync', CASE WHEN resync = '1' THEN 'waiting' ELSE 'idle' END,
        NULL, NULL, NULL, 0, NULL, NULL
    FROM b
"""

# Each entry moves the database from version i to i+1. Never edit a released migration:
# append a new one.
MIGRATIONS: list[str] = [
    # 1: the journal, the materialized record state and box metadata.
    """
    CREATE TABLE actions (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        type TEXT NOT NULL,
        custom_type TEXT,
        created_at TEXT NOT NULL,
        client_time TEXT,
        clock TEXT NOT NULL CHECK (clock IN ('synced', 'unsynced')),
        boot_id TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at_location TEXT NOT NULL,
        payload TEXT NOT NULL,
        flags_added TEXT NOT NULL,
        flags_removed TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX actions_by_record ON actions (record_id, seq);
    CREATE TRIGGER actions_no_update BEFORE UPDATE ON actions
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only: actions cannot be changed'); END;
    CREATE TRIGGER actions_no_delete BEFORE DELETE ON actions
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only: actions cannot be deleted'); END;

    CREATE TABLE records (
        id TEXT PRIMARY KEY,
        tracking_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        status TEXT NOT NULL,
        flags TEXT NOT NULL,
        assigned_to TEXT,
        office_id TEXT NOT NULL,
        declaration TEXT NOT NULL,
        pending_correction TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        dedup_key TEXT
    );
    CREATE INDEX records_by_status ON records (status, updated_at);
    CREATE INDEX records_by_assignee ON records (assigned_to);
    CREATE INDEX records_by_dedup ON records (event_type, dedup_key);

    CREATE TABLE box (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 2: sync receipts beside the journal and the user register. An action without a receipt
    # is pending: the append path writes only the journal and the record state, and the
    # sync worker writes receipts as it sends.
    """
    CREATE TABLE sync_state (
        action_id TEXT PRIMARY KEY REFERENCES actions (id),
        seq INTEGER NOT NULL UNIQUE,
        record_id TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
            ('pending', 'sending', 'accepted', 'rejected', 'conflict', 'discarded')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_try_at TEXT,
        registry_time TEXT,
        reason TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX sync_state_by_state ON sync_state (state, seq);

    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        office_id TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    );
    """,
    # 3: passwords, lockout and offline-login window; sessions; API tokens; the journal of
    # user-management actions (append-only like the record journal).
    """
    ALTER TABLE users ADD COLUMN verifier TEXT;
    ALTER TABLE users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN locked_until TEXT;
    ALTER TABLE users ADD COLUMN last_login_at TEXT;
    ALTER TABLE users ADD COLUMN last_checked_at TEXT;
    ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id),
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX sessions_by_user ON sessions (user_id);

    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id),
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
    );

    CREATE TABLE user_actions (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        type TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX user_actions_by_user ON user_actions (user_id, seq);
    CREATE TRIGGER user_actions_no_update BEFORE UPDATE ON user_actions
    BEGIN SELECT RAISE(ABORT, 'the user journal is append-only'); END;
    CREATE TRIGGER user_actions_no_delete BEFORE DELETE ON user_actions
    BEGIN SELECT RAISE(ABORT, 'the user journal is append-only'); END;
    """,
    # 4: what the box learns from the registry. registry_actions: the national journal's
    # actions of the records held here (the registry's, not part of the box's hash chain);
    # a record's state is the fold of those, then of the box's own actions the registry has
    # not got yet. leases: records the registry gave to or took from this box. Receipts say
    # who discarded an action (a revoked lease) and when.
    """
    CREATE TABLE registry_actions (
        national_seq INTEGER PRIMARY KEY,
        origin_box TEXT NOT NULL,
        origin_seq INTEGER NOT NULL,
        id TEXT NOT NULL UNIQUE,
        record_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        type TEXT NOT NULL,
        custom_type TEXT,
        created_at TEXT NOT NULL,
        client_time TEXT,
        clock TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at_location TEXT NOT NULL,
        payload TEXT NOT NULL,
        flags_added TEXT NOT NULL,
        flags_removed TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        received_at TEXT NOT NULL
    );
    CREATE INDEX registry_actions_by_record ON registry_actions (record_id, national_seq);
    CREATE TRIGGER registry_actions_no_update BEFORE UPDATE ON registry_actions
    BEGIN SELECT RAISE(ABORT, 'the registry copy is append-only'); END;

    CREATE TABLE leases (
        record_id TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('held', 'revoked')),
        changed_at TEXT NOT NULL,
        changed_by TEXT,
        reason TEXT
    );

    ALTER TABLE sync_state ADD COLUMN discarded_by TEXT;
    ALTER TABLE sync_state ADD COLUMN discarded_at TEXT;
    """,
    # 5: times that survive clock steps: a session's start and last use, and a lock after
    # failed logins, also as the boot they happened in and the time since that boot.
    """
    ALTER TABLE sessions ADD COLUMN created_boot TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN created_mono INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sessions ADD COLUMN seen_boot TEXT NOT NULL DEFAULT '';
    ALTER TABLE sessions ADD COLUMN seen_mono INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN lock_boot TEXT NOT NULL DEFAULT '';
    ALTER TABLE users ADD COLUMN lock_mono INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN lock_seconds INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: idempotency keys: a write retried after its answer was lost (a dropped Wi-Fi, a
    # killed process) is answered with what the first did, never done twice. Kept with the
    # action, in the same transaction.
    """
    CREATE TABLE idempotency (
        user_id TEXT NOT NULL,
        key TEXT NOT NULL,
        request TEXT NOT NULL,
        action_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (user_id, key)
    ) WITHOUT ROWID;
    """,
    # 7: the sync worker's stages (edge/journal/syncstages.py), from the box keys that held
    # their state before; positions (pull_cursor, resync_after, sync_low_water) stay keys.
    f"""
    CREATE TABLE sync_stages (
        name TEXT PRIMARY KEY,
        status TEXT NOT NULL
            CHECK (status IN ('idle', 'running', 'waiting', 'failed', 'done')),
        since TEXT,
        last_error TEXT,
        next_try TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT,
        last_done TEXT
    );
    INSERT INTO sync_stages SELECT * FROM ({LEGACY_SYNC_STAGES}) WHERE status != 'idle';
    DELETE FROM box WHERE key IN ({", ".join(f"'{k}'" for k in LEGACY_SYNC_KEYS)});
    """,
    # 8: reads whose cost does not grow with the journal (docs/performance.md). Kept by
    # triggers in the writer's own transaction: counts of actions by sync state; the actions
    # the registry has not accepted (the outbox, by seq); each record's flags (flag queues by
    # index); a folded search text and its full-text index; indexes for keyset pagination.
    """
    CREATE TABLE sync_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO sync_counts SELECT state, COUNT(*) FROM sync_state GROUP BY state;
    INSERT OR IGNORE INTO sync_counts VALUES ('pending', 0);
    UPDATE sync_counts SET n = n + (
        SELECT COUNT(*) FROM actions a
        WHERE NOT EXISTS (SELECT 1 FROM sync_state s WHERE s.action_id = a.id)
    ) WHERE state = 'pending';
    CREATE TABLE outbox_open (seq INTEGER PRIMARY KEY);
    INSERT INTO outbox_open SELECT a.seq FROM actions a
        LEFT JOIN sync_state s ON s.action_id = a.id
        WHERE s.state IS NULL OR s.state != 'accepted';
    CREATE TRIGGER counts_new_action AFTER INSERT ON actions BEGIN
        INSERT INTO sync_counts VALUES ('pending', 1)
            ON CONFLICT (state) DO UPDATE SET n = n + 1;
        INSERT INTO outbox_open (seq) VALUES (NEW.seq);
    END;
    CREATE TRIGGER counts_new_receipt AFTER INSERT ON sync_state BEGIN
        UPDATE sync_counts SET n = n - 1 WHERE state = 'pending';
        INSERT INTO sync_counts VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET n = n + 1;
        DELETE FROM outbox_open WHERE seq = NEW.seq AND NEW.state = 'accepted';
    END;
    CREATE TRIGGER counts_changed_receipt AFTER UPDATE OF state ON sync_state
    WHEN OLD.state != NEW.state BEGIN
        UPDATE sync_counts SET n = n - 1 WHERE state = OLD.state;
        INSERT INTO sync_counts VALUES (NEW.state, 1)
            ON CONFLICT (state) DO UPDATE SET n = n + 1;
        DELETE FROM outbox_open WHERE seq = NEW.seq AND NEW.state = 'accepted';
        INSERT OR IGNORE INTO outbox_open (seq) SELECT NEW.seq WHERE OLD.state = 'accepted';
    END;
    CREATE TRIGGER counts_gone_receipt AFTER DELETE ON sync_state BEGIN
        UPDATE sync_counts SET n = n - 1 WHERE state = OLD.state;
        UPDATE sync_counts SET n = n + 1 WHERE state = 'pending';
        INSERT OR IGNORE INTO outbox_open (seq) VALUES (OLD.seq);
    END;

    CREATE TABLE record_flags (
        record_id TEXT NOT NULL,
        flag TEXT NOT NULL,
        PRIMARY KEY (record_id, flag)
    ) WITHOUT ROWID;
    CREATE INDEX record_flags_by_flag ON record_flags (flag, record_id);
    INSERT INTO record_flags SELECT r.id, j.value FROM records r, json_each(r.flags) j;
    CREATE TRIGGER flags_new_record AFTER INSERT ON records BEGIN
        INSERT INTO record_flags SELECT NEW.id, value FROM json_each(NEW.flags);
    END;
    CREATE TRIGGER flags_changed AFTER UPDATE OF flags ON records BEGIN
        DELETE FROM record_flags WHERE record_id = NEW.id;
        INSERT INTO record_flags SELECT NEW.id, value FROM json_each(NEW.flags);
    END;
    CREATE TRIGGER flags_gone_record AFTER DELETE ON records BEGIN
        DELETE FROM record_flags WHERE record_id = OLD.id;
    END;

    ALTER TABLE records ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
    CREATE VIRTUAL TABLE records_search USING fts5(
        search_text, content = 'records', content_rowid = 'rowid',
        tokenize = 'unicode61 remove_diacritics 2'
    );
    INSERT INTO records_search (records_search) VALUES ('rebuild');
    CREATE TRIGGER search_new_record AFTER INSERT ON records BEGIN
        INSERT INTO records_search (rowid, search_text) VALUES (NEW.rowid, NEW.search_text);
    END;
    CREATE TRIGGER search_gone_record AFTER DELETE ON records BEGIN
        INSERT INTO records_search (records_search, rowid, search_text)
            VALUES ('delete', OLD.rowid, OLD.search_text);
    END;
    CREATE TRIGGER search_changed AFTER UPDATE OF search_text ON records BEGIN
        INSERT INTO records_search (records_search, rowid, search_text)
            VALUES ('delete', OLD.rowid, OLD.search_text);
        INSERT INTO records_search (rowid, search_text) VALUES (NEW.rowid, NEW.search_text);
    END;

    DROP INDEX records_by_status;
    DROP INDEX records_by_assignee;
    CREATE INDEX records_by_status ON records (status, updated_at, id);
    CREATE INDEX records_by_assignee ON records (assigned_to, updated_at, id);
    CREATE INDEX records_by_creator ON records (created_by, status, updated_at, id);
    CREATE INDEX records_by_time ON records (updated_at, id);
    CREATE INDEX records_by_tracking_id ON records (tracking_id);
    """,
    # 9: a stage's times also as the boot and the time since boot they were read in, so a
    # backoff, a stuck stage and a push that stopped are measured across clock steps.
    """
    ALTER TABLE sync_stages ADD COLUMN since_boot TEXT NOT NULL DEFAULT '';
    ALTER TABLE sync_stages ADD COLUMN since_mono INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE sync_stages ADD COLUMN updated_boot TEXT NOT NULL DEFAULT '';
    ALTER TABLE sync_stages ADD COLUMN updated_mono INTEGER NOT NULL DEFAULT 0;
    """,
    # 10: the registration number the registry gave a Register it accepted (the certificate's).
    "ALTER TABLE sync_state ADD COLUMN registration_number TEXT;",
    # 11: supporting documents: what each is, its bytes in chunks, and how far it was sent
    # (edge/journal/attachments.py).
    attachments.MIGRATION,
    # 12: each user's actions the registry has not accepted, counted (edge/journal/notes.py).
    notes.WAITING_BY_USER,
]

LATEST = len(MIGRATIONS)


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST) -> int:
    """Apply every migration up to target, each in its own transaction; return the version."""
    current = version(conn)
    if current > LATEST:
        raise EdgeError(
            f"journal.db is at schema version {current}, newer than this software ({LATEST}): "
            "install the newer software or restore a matching backup"
        )
    while current < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(MIGRATIONS[current]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current += 1
    return current


def _statements(script: str) -> list[str]:
    # executescript would COMMIT on its own; split so a migration is one transaction.
    out, buf = [], ""
    for line in script.strip().splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
