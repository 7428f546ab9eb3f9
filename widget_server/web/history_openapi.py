"""The history API's part of the OpenAPI document (docs/history-api.md): paths and schemas, merged into
the admin API's document at /api/admin/openapi.json (the two share their tokens).

Written out, as the admin API's: the Zendesk-shaped objects are described by what clients may rely on
(their keys and types), not every nested field; tests/test_openapi.py checks the live answers against
it with Schemathesis.
"""

from __future__ import annotations

from typing import Any

PREFIX = "/api/v2/chat/chats"
_ERROR = {"$ref": "#/components/schemas/HistoryError"}
_CHAT = {"$ref": "#/components/schemas/Chat"}
_URL_OR_NULL = {"type": ["string", "null"]}


def json_answer(schema: Any, description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is JSON of this schema (the admin API's document uses it too)."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": json_answer(_ERROR, "Malformed: an unknown parameter or field, a bad value ('description')."),
    "401": json_answer(_ERROR, "No valid API token."),
    "429": json_answer(_ERROR, "Too many wrong tokens from this address: wait a minute."),
}
_NOT_FOUND = {"404": json_answer(_ERROR, "No such chat, or it was deleted.")}
_TOO_LARGE = {"413": json_answer(_ERROR, "The body is over 64 KiB.")}
_CHAT_ID = {"name": "chat_id", "in": "path", "required": True, "schema": {"type": "string"}}
_IDS = {
    "name": "ids",
    "in": "query",
    "description": "1 to 50 chat ids, separated by commas.",
    "schema": {"type": "string"},
}

SCHEMAS: dict[str, Any] = {
    "HistoryError": {
        "type": "object",
        "required": ["error", "description"],
        "properties": {
            "error": {"type": "string", "examples": ["InvalidRequest", "RecordNotFound", "RecordInvalid"]},
            "description": {"type": "string"},
            "details": {"type": "object"},
        },
    },
    "Chat": {
        "type": "object",
        "description": "A chat (type 'chat') or an offline message (type 'offline_msg'), as Zendesk Chat's.",
        "required": ["id", "type", "timestamp", "visitor", "session", "webpath"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": "string", "enum": ["chat", "offline_msg"]},
            "timestamp": {"type": "string"},
            "visitor": {"type": "object"},
            "session": {"type": "object"},
            "webpath": {"type": "array"},
            "history": {"type": "array"},
            "message": {"type": "string"},
        },
    },
}

PATHS: dict[str, Any] = {
    PREFIX: {
        "get": {
            "summary": "List chats, newest first; or, with ids, those chats",
            "parameters": [
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                _IDS,
            ],
            "responses": {
                "200": json_answer(
                    {
                        "type": "object",
                        "required": ["count"],
                        "properties": {
                            "count": {"type": "integer"},
                            "chats": {"type": "array", "items": _CHAT},
                            "next_url": _URL_OR_NULL,
                            "prev_url": _URL_OR_NULL,
                            "docs": {"type": "object", "additionalProperties": _CHAT},
                        },
                    },
                    "A page of chats (chats, next_url, prev_url), or with ids the chats found (docs).",
                ),
                **_ERRORS,
            },
        },
        "post": {
            "summary": "Create an offline message",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "description": "The same key again answers the message it created.",
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["visitor", "message"],
                            "properties": {
                                "visitor": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
                                },
                                "message": {"type": "string"},
                                "timestamp": {"type": "integer"},
                                "session": {"type": "object"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": json_answer(_CHAT, "The offline message created."),
                "409": json_answer(_ERROR, "The offline message this Idempotency-Key created was deleted."),
                "503": json_answer(_ERROR, "It could not be stored now."),
                **_ERRORS,
                **_TOO_LARGE,
            },
        },
        "delete": {
            "summary": "Delete chats",
            "parameters": [{**_IDS, "required": True}],
            "responses": {
                "200": json_answer(
                    {
                        "type": "object",
                        "required": ["failed", "number_fail", "number_success"],
                        "properties": {
                            "failed": {"type": "object"},
                            "number_fail": {"type": "integer"},
                            "number_success": {"type": "integer"},
                        },
                    },
                    "What was deleted, and why the others were not.",
                ),
                **_ERRORS,
            },
        },
    },
    f"{PREFIX}/search": {
        "get": {
            "summary": "Search chats",
            "parameters": [
                {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
            ],
            "responses": {
                "200": json_answer(
                    {
                        "type": "object",
                        "required": ["count", "results", "next_url", "prev_url"],
                        "properties": {
                            "count": {"type": "integer"},
                            "results": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["id", "preview", "timestamp", "type", "url"],
                                },
                            },
                            "next_url": _URL_OR_NULL,
                            "prev_url": _URL_OR_NULL,
                        },
                    },
                    "A page of results, 40 a page.",
                ),
                **_ERRORS,
            },
        }
    },
    f"{PREFIX}/{{chat_id}}": {
        "parameters": [_CHAT_ID],
        "get": {
            "summary": "One chat",
            "responses": {"200": json_answer(_CHAT, "The chat."), **_ERRORS, **_NOT_FOUND},
        },
        "put": {
            "summary": "Change a chat's visitor or notes (dotted keys, as Zendesk's: visitor.name)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": json_answer(_CHAT, "The chat as it is now."),
                **_ERRORS,
                **_NOT_FOUND,
                **_TOO_LARGE,
            },
        },
        "delete": {
            "summary": "Delete a chat",
            "responses": {"204": {"description": "Deleted."}, **_ERRORS, **_NOT_FOUND},
        },
    },
}
