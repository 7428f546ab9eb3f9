"""What both stores share about a chat's row: its columns, which of them may change, and how a row
(a tuple from sqlite3 or a record from asyncpg, JSON kept as text in both) becomes a ``Chat`` or an
``Event``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from widget_server.json_output import dumps as dumps  # how both stores write their JSON columns
from widget_server.model import CannedResponse, Chat, Event, OutboxItem, Visitor

CHAT_COLUMNS = (
    "id, site, backend, state, visitor, created_at, last_seq, ended_at, agent, agent_name, backend_ref,"
    " backend_state, preview, start_id, ip, type, meta, deleted_at, hidden_events, read_seq, team"
)
# Where chat_of finds what an append checks without decoding the whole row.
SITE, BACKEND, STATE, LAST_SEQ, HIDDEN_EVENTS, TEAM = 1, 2, 3, 6, 18, 20
#: An event's columns, in the order ``event_of`` reads them.
EVENT_COLUMNS = "seq, at, kind, data, hidden_before"
CHANGEABLE = {
    "state",
    "agent",
    "agent_name",
    "ended_at",
    "backend_ref",
    "backend_state",
    "visitor",
    "meta",
    "deleted_at",
    "team",
}
JSON_COLUMNS = {"backend_state", "preview", "meta"}


def chat_of(row: Sequence[Any]) -> Chat:
    return Chat(
        id=row[0],
        site=row[1],
        backend=row[2],
        state=row[3],
        visitor=Visitor.from_json(orjson.loads(row[4])),
        created_at=row[5],
        last_seq=row[6],
        ended_at=row[7],
        agent=row[8],
        agent_name=row[9],
        backend_ref=row[10],
        backend_state=orjson.loads(row[11]),
        preview=orjson.loads(row[12]) if row[12] else None,
        start_id=row[13],
        # row[14], the visitor's address, is also in ``visitor``: a column of its own for the per-IP limit
        type=row[15],
        meta=orjson.loads(row[16]),
        deleted_at=row[17],
        hidden_events=row[18],
        read_seq=row[19],
        team=row[20],
    )


def event_of(chat_id: str, row: Sequence[Any]) -> Event:
    """An event from its ``EVENT_COLUMNS``."""
    return Event(chat_id, row[0], row[1], row[2], orjson.loads(row[3]), row[4])


def encode_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` of a chat (``Store.append``, ``Store.update_chat``) as column values; a column that may
    not change is refused before anything is written."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    return {
        k: dumps(v.to_json()) if isinstance(v, Visitor) else dumps(v) if k in JSON_COLUMNS else v
        for k, v in changes.items()
    }


OUTBOX_CHANGEABLE = {"due_at", "attempts", "state", "last_error", "done_at", "remote_id", "ambiguous"}


def check_outbox_changes(changes: dict[str, Any]) -> None:
    unknown = set(changes) - OUTBOX_CHANGEABLE
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}")
    if not changes:
        raise ValueError("no change given")


OUTBOX_COLUMNS = (
    "id, target, site, chat_id, payload, created_at, due_at, attempts, state, last_error, done_at, remote_id,"
    " ambiguous"
)


def outbox_item_of(row: Sequence[Any]) -> OutboxItem:
    """An outbox row, its columns in ``OUTBOX_COLUMNS`` order (both stores keep the payload as JSON text)."""
    return OutboxItem(
        row[0],
        row[1],
        row[2],
        row[3],
        orjson.loads(row[4]),
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        bool(row[12]),
    )


CANNED_COLUMNS = "id, owner, shortcut, title, text, created_at, updated_at, updated_by"


def canned_of(row: Sequence[Any]) -> CannedResponse:
    """A canned response from its ``CANNED_COLUMNS``."""
    return CannedResponse(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])
