"""The OpenAPI 3.1 document of the admin API and the history API (served at /api/admin/openapi.json);
the reports' part is in reports_openapi.py.

Written out rather than generated: the API is small, and the document is a promise to the operators'
scripts, so it should change only on purpose. tests/test_admin_api.py checks that every route is here.
"""

from __future__ import annotations

from typing import Any

from widget_server.model import ROLES
from widget_server.web import history_openapi, reports_openapi
from widget_server.web.history_openapi import json_answer
from widget_server.widget_strings import LOCALES

_ERROR = {"$ref": "#/components/schemas/Error"}
_SITE = {"$ref": "#/components/schemas/Site"}


_ERRORS = {
    "400": json_answer(_ERROR, "The request is not valid; 'message' says why, 'field' names the setting."),
    "401": json_answer(_ERROR, "No valid API token."),
    "404": json_answer(_ERROR, "No such site or entry."),
    "409": json_answer(_ERROR, "The site exists already, or comes from the configuration file (read-only)."),
}
_SITE_ID = {"name": "site", "in": "path", "required": True, "schema": {"type": "string"}}
_USER = {"$ref": "#/components/schemas/User"}
_USER_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_ROLE = {"type": "string", "enum": list(ROLES), "description": "docs/console.md#roles"}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "widget_server admin and history API",
        "version": "1",
        "description": "Sites, the websites they admit, the addresses they refuse, and the audit log; "
        "and the chats, in the shape of Zendesk Chat's Chats API (/api/v2/chat/chats). "
        "Authenticate with an API token: Authorization: Bearer <token> (widget-server tokens create NAME).",
    },
    "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "examples": ["invalid", "not_found", "read_only"]},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            },
            "SiteSettings": {
                "type": "object",
                "description": "As under [sites.ID] in the configuration file (docs/configuration.md).",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 100},
                    "allowed_origins": {"type": "array", "items": {"type": "string"}},
                    "blocked_ips": {"type": "array", "items": {"type": "string"}},
                    "backend": {"type": "string", "enum": ["local", "gws", "helpcrunch", "omnidesk"]},
                    "limits": {"type": "object", "additionalProperties": {"type": "number"}},
                    "hours": {"type": "object"},
                    "attachments": {"type": "object"},
                    "zendesk": {"type": "object"},
                    "locale": {"type": "string", "enum": list(LOCALES)},
                    "notify": {
                        "type": "boolean",
                        "description": "A sound and the unread count in the page's title for an agent's "
                        "message while the visitor's tab is hidden (default false).",
                    },
                    "team": {
                        "type": "string",
                        "description": "The team that answers the site's chats ([teams.ID] in the file).",
                    },
                    "teams": {
                        "type": "array",
                        "description": "The teams a visitor chooses from before a chat ([teams.ID]).",
                        "items": {"type": "string"},
                    },
                    "greetings": {
                        "type": "array",
                        "description": "Proactive greetings, in order: each {id, pages, after, text, from?, "
                        "offline?, again_after_days?} (docs/configuration.md).",
                        "items": {"type": "object"},
                    },
                    "strings": {
                        "type": "object",
                        "description": "The widget's strings in the site's own words, by string id "
                        '(docs/embedding.md); a language\'s own under its code ("de": {...}).',
                    },
                    **{
                        backend: {"type": "object", "description": "The backend's settings table."}
                        for backend in ("gws", "helpcrunch", "omnidesk")
                    },
                },
            },
            "Site": {
                "allOf": [
                    {"$ref": "#/components/schemas/SiteSettings"},
                    {
                        "type": "object",
                        "required": ["id", "source", "editable", "live_connections"],
                        "properties": {
                            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$"},
                            "source": {"type": "string", "enum": ["config", "database"]},
                            "editable": {"type": "boolean"},
                            "live_connections": {"type": "integer"},
                            "identity": {"$ref": "#/components/schemas/IdentityStatus"},
                        },
                    },
                ]
            },
            "IdentityStatus": {
                "type": "object",
                "description": "Whether the site verifies visitors' identities (docs/embedding.md), and its "
                "secrets by fingerprint; the secret itself only through GET .../identity_secret.",
                "required": ["enabled"],
                "properties": {
                    "enabled": {"type": "boolean"},
                    "fingerprint": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
                    "previous_fingerprint": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
                    "previous_until": {"type": "string", "format": "date-time"},
                },
            },
            **reports_openapi.SCHEMAS,
            "User": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "The login name."},
                    "display_name": {"type": "string", "description": "The name visitors see."},
                    "role": _ROLE,
                    "status": {"type": "string", "enum": ["online", "away", "offline"]},
                },
            },
            "AuditEntry": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "at": {"type": "string", "format": "date-time"},
                    "actor": {"type": "string"},
                    "via": {"type": "string", "enum": ["admin page", "api", "cli", "console", "round robin"]},
                    "address": {"type": ["string", "null"]},
                    "action": {"type": "string"},
                    "target": {"type": "string"},
                    "detail": {"type": "object"},
                },
            },
        },
    },
    "security": [{"token": []}],
    "paths": {
        "/api/admin/sites": {
            "get": {
                "summary": "All sites, from the file and from the database",
                "responses": {
                    "200": json_answer(
                        {"type": "object", "properties": {"sites": {"type": "array", "items": _SITE}}},
                        "The sites.",
                    ),
                    "401": _ERRORS["401"],
                },
            },
            "post": {
                "summary": "Create a site",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "allOf": [
                                    {"$ref": "#/components/schemas/SiteSettings"},
                                    {
                                        "type": "object",
                                        "required": ["id"],
                                        "properties": {"id": {"type": "string"}},
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {"201": json_answer(_SITE, "Created."), **_ERRORS},
            },
        },
        "/api/admin/sites/{site}": {
            "parameters": [_SITE_ID],
            "get": {"summary": "One site", "responses": {"200": json_answer(_SITE, "The site."), **_ERRORS}},
            "put": {
                "summary": "Replace a site's settings",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/SiteSettings"}}
                    },
                },
                "responses": {"200": json_answer(_SITE, "The site as it is now."), **_ERRORS},
            },
            "patch": {
                "summary": "Change some of a site's settings (null removes one)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {"200": json_answer(_SITE, "The site as it is now."), **_ERRORS},
            },
            "delete": {
                "summary": "Remove a site (its open sockets are closed)",
                "responses": {"204": {"description": "Removed."}, **_ERRORS},
            },
        },
        "/api/admin/sites/{site}/allowed_origins": {
            "parameters": [_SITE_ID],
            "post": {
                "summary": "Allow an origin pattern",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["origin"],
                                "properties": {"origin": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {"200": json_answer(_SITE, "The site as it is now."), **_ERRORS},
            },
            "delete": {
                "summary": "Remove an origin pattern (sockets it admitted are closed)",
                "parameters": [
                    {"name": "origin", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": json_answer(_SITE, "The site as it is now."), **_ERRORS},
            },
        },
        "/api/admin/sites/{site}/blocked_ips": {
            "parameters": [_SITE_ID],
            "post": {
                "summary": "Block an address or CIDR network (its open sockets are closed)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["ip"],
                                "properties": {"ip": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {"200": json_answer(_SITE, "The site as it is now."), **_ERRORS},
            },
            "delete": {
                "summary": "Unblock an address or network",
                "parameters": [{"name": "ip", "in": "query", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": json_answer(_SITE, "The site as it is now."), **_ERRORS},
            },
        },
        "/api/admin/sites/{site}/identity_secret": {
            "parameters": [_SITE_ID],
            "post": {
                "summary": "Create the site's identity secret, or rotate it: the previous one stays valid "
                "for 24 hours (audited)",
                "responses": {
                    "201": json_answer(
                        {
                            "type": "object",
                            "required": ["secret", "site"],
                            "properties": {"secret": {"type": "string"}, "site": _SITE},
                        },
                        "The new secret, for the site's backend, and the site.",
                    ),
                    **_ERRORS,
                },
            },
            "get": {
                "summary": "The site's current identity secret",
                "responses": {
                    "200": json_answer(
                        {
                            "type": "object",
                            "required": ["secret", "identity"],
                            "properties": {
                                "secret": {"type": "string"},
                                "identity": {"$ref": "#/components/schemas/IdentityStatus"},
                            },
                        },
                        "The secret.",
                    ),
                    **_ERRORS,
                },
            },
            "delete": {
                "summary": "Verify identities no more: every identity is refused (audited)",
                "responses": {"200": json_answer(_SITE, "The site as it is now."), **_ERRORS},
            },
        },
        "/api/admin/sites/{site}/identity_secret/previous": {
            "parameters": [_SITE_ID],
            "delete": {
                "summary": "End the previous secret's grace period now (audited)",
                "responses": {"200": json_answer(_SITE, "The site as it is now."), **_ERRORS},
            },
        },
        "/api/admin/audit": {
            "get": {
                "summary": "The audit log, newest first",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "description": "An entry id, for the next page.",
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "target",
                        "in": "query",
                        "description": "Only the entries about this chat id, site id or login name.",
                        "schema": {"type": "string", "maxLength": 200},
                    },
                ],
                "responses": {
                    "200": json_answer(
                        {
                            "type": "object",
                            "properties": {
                                "entries": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/AuditEntry"},
                                }
                            },
                        },
                        "Entries.",
                    ),
                    "400": _ERRORS["400"],
                    "401": _ERRORS["401"],
                },
            }
        },
        "/api/admin/users": {
            "get": {
                "summary": "Everyone who signs in, with their role",
                "responses": {
                    "200": json_answer(
                        {"type": "object", "properties": {"users": {"type": "array", "items": _USER}}},
                        "People, by login name.",
                    ),
                    "401": _ERRORS["401"],
                },
            },
            "post": {
                "summary": "Add someone who signs in (an agent, a supervisor or an operator)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name", "password"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "password": {"type": "string"},
                                    "role": {**_ROLE, "default": "agent"},
                                    "display_name": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": json_answer(_USER, "Added."),
                    "400": _ERRORS["400"],
                    "401": _ERRORS["401"],
                    "409": json_answer(_ERROR, "There is a user of that name already."),
                    "413": json_answer(_ERROR, "The body is too large."),
                },
            },
        },
        "/api/admin/users/{name}": {
            "parameters": [_USER_NAME],
            "patch": {
                "summary": "Change someone's role (their sessions end: they sign in again)",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "required": ["role"], "properties": {"role": _ROLE}}
                        }
                    },
                },
                "responses": {
                    "200": json_answer(_USER, "The user as they are now."),
                    "400": _ERRORS["400"],
                    "401": _ERRORS["401"],
                    "404": json_answer(_ERROR, "No such user."),
                    "409": json_answer(_ERROR, "The last operator cannot stop being one."),
                    "413": json_answer(_ERROR, "The body is too large."),
                },
            },
            "delete": {
                "summary": "Remove someone (they are signed out everywhere)",
                "responses": {
                    "204": {"description": "Removed."},
                    "400": _ERRORS["400"],
                    "401": _ERRORS["401"],
                    "404": json_answer(_ERROR, "No such user."),
                },
            },
        },
        "/api/admin/stats": {
            "get": {
                "summary": "How this server process keeps up: open visitor sockets, the pollers' recent lag",
                "responses": {
                    "200": json_answer(
                        {
                            "type": "object",
                            "properties": {
                                "visitor_sockets": {"type": "integer"},
                                "pollers": {
                                    "type": "object",
                                    "description": "Pollers running, and percentiles (p50, p99, max) in "
                                    "seconds of the recent polls: how late each started (lag_s), its "
                                    "request (request_s), storing what came back (record_s).",
                                },
                            },
                        },
                        "Figures.",
                    ),
                    "401": _ERRORS["401"],
                },
            }
        },
        **reports_openapi.PATHS,
        "/api/admin/connections": {
            "get": {
                "summary": "Open visitor sockets per site, in this server process",
                "responses": {
                    "200": json_answer(
                        {
                            "type": "object",
                            "properties": {
                                "sites": {"type": "object", "additionalProperties": {"type": "integer"}}
                            },
                        },
                        "Counts.",
                    ),
                    "401": _ERRORS["401"],
                },
            }
        },
    },
}

# Every operation may answer these: too many failed tokens from the address (a valid token is never
# refused), and a body over the limit (answered before it is read).
for _operations in OPENAPI["paths"].values():
    for _name, _operation in _operations.items():
        if _name == "parameters":
            continue
        _operation["responses"].setdefault(
            "429", json_answer(_ERROR, "Too many failed authentications from this address: wait a minute.")
        )
        if "requestBody" in _operation:
            _operation["responses"].setdefault("413", json_answer(_ERROR, "The body is over 64 KiB."))

# The history API shares the admin API's tokens, and its document.
OPENAPI["paths"].update(history_openapi.PATHS)
OPENAPI["components"]["schemas"].update(history_openapi.SCHEMAS)
