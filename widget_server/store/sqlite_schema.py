"""The SQLite store's schema: its migrations, in order (see migrations.py), and the runner.

The version is SQLite's own ``PRAGMA user_version``, which every database of the first release already
carries; no table of our own is needed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from widget_server.store.migrations import pending

MIGRATIONS = [
    # 1: the first release
    """
    CREATE TABLE chats (
        id TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        backend TEXT NOT NULL,
        state TEXT NOT NULL,
        visitor TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        ended_at INTEGER,
        agent TEXT,
        agent_name TEXT,
        backend_ref TEXT,
        backend_state TEXT NOT NULL DEFAULT '{}',
        preview TEXT,
        start_id TEXT,
        ip TEXT,
        type TEXT NOT NULL DEFAULT 'chat',
        meta TEXT NOT NULL DEFAULT '{}',
        deleted_at INTEGER
    );
    CREATE INDEX chats_by_state ON chats (state, site, created_at);
    CREATE INDEX chats_by_ip ON chats (site, ip, created_at);
    CREATE INDEX chats_by_time ON chats (created_at, id);
    CREATE INDEX chats_by_backend_ref ON chats (site, backend_ref);
    CREATE UNIQUE INDEX chats_by_start_id ON chats (site, start_id) WHERE start_id IS NOT NULL;
    CREATE TABLE events (
        chat_id TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        at INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        client_id TEXT,
        PRIMARY KEY (chat_id, seq)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX events_by_client_id ON events (chat_id, client_id) WHERE client_id IS NOT NULL;
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        display_name TEXT NOT NULL,
        session_version INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE sites (
        id TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('sites_version', 0);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        via TEXT NOT NULL,
        address TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        site TEXT NOT NULL,
        chat_id TEXT,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT 'pending',
        last_error TEXT,
        done_at INTEGER,
        remote_id TEXT,
        ambiguous INTEGER NOT NULL DEFAULT 0,
        claimed_by TEXT,
        claimed_until INTEGER
    );
    CREATE INDEX outbox_due ON outbox (state, due_at);
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at INTEGER,
        last_used_at INTEGER
    );
    """,
    # 2: what several processes on one database need: the fencing number of the chat's backend owner
    # (Store.append and Store.update_chat with ``fence``)
    """
    ALTER TABLE chats ADD COLUMN backend_fence INTEGER NOT NULL DEFAULT 0;
    """,
    # 3: agents-only events (internal notes), which the visitor's view of the log does not number: how
    # many a chat holds, and how many come before each event (model.py). 0 is right for every older row.
    """
    ALTER TABLE chats ADD COLUMN hidden_events INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE events ADD COLUMN hidden_before INTEGER NOT NULL DEFAULT 0;
    """,
    # 4: the agent console's helpers. A visitor's other chats, by the key their widget keeps and by their
    # email (expression indexes on the visitor JSON: nothing to copy into a column and keep in step when
    # the history API edits the email); canned responses, shared (owner NULL) or an agent's own, each
    # shortcut once per owner.
    """
    CREATE INDEX chats_by_visitor_key ON chats (site, json_extract(visitor, '$.key'), created_at);
    CREATE INDEX chats_by_email ON chats (site, lower(json_extract(visitor, '$.email')), created_at);
    CREATE TABLE canned_responses (
        id TEXT PRIMARY KEY,
        owner TEXT,
        shortcut TEXT NOT NULL,
        title TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL
    );
    CREATE UNIQUE INDEX canned_by_shortcut ON canned_responses (coalesce(owner, ''), shortcut);
    """,
    # 5: the status each agent chose (online, away, offline: widget_server/agent_status.py); everyone
    # starts online, as an agent with the console open counted before.
    """
    ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'online';
    """,
    # 6: read receipts: how far an agent has read the chat, in its visitor's numbering (Store.agent_read);
    # 0, nothing read, is right for every older row.
    """
    ALTER TABLE chats ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: the team a chat was transferred to (widget_server/transfers.py); NULL, the site's team, is right
    # for every older row.
    """
    ALTER TABLE chats ADD COLUMN team TEXT;
    """,
]


def migrate(conn: sqlite3.Connection, scripts: Sequence[str] = MIGRATIONS) -> None:
    """Bring the database to the newest version of ``scripts`` (tests pass fewer, to make an old one).

    ``BEGIN IMMEDIATE`` takes SQLite's write lock before the version is read: a second process that
    starts at the same moment waits, then finds the work done."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        for number, script in pending(scripts, version):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
