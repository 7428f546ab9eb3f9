"""The admin API's reports in its OpenAPI document (widget_server/web/admin_openapi.py merges them):
``GET /api/admin/reports`` and the schemas of its answer. The figures are defined in
widget_server/reports.py and docs/reports.md."""

from __future__ import annotations

from typing import Any

from widget_server.web.history_openapi import json_answer

_ERROR = {"$ref": "#/components/schemas/Error"}
_TIMES = {
    "type": "object",
    "description": "Times in seconds (to the millisecond) over the chats measured; null with none. "
    "Percentiles interpolate linearly between the two nearest ranks.",
    "required": ["count", "median_s", "p90_s"],
    "properties": {
        "count": {"type": "integer", "minimum": 0},
        "median_s": {"type": ["number", "null"], "minimum": 0},
        "p90_s": {"type": ["number", "null"], "minimum": 0},
    },
}
_COUNT = {"type": "integer", "minimum": 0}
_FIGURES = {"$ref": "#/components/schemas/ReportFigures"}
_DAYS = {"type": "array", "items": {"$ref": "#/components/schemas/ReportDay"}}
SCHEMAS: dict[str, Any] = {
    "ReportFigures": {
        "type": "object",
        "description": "The figures of some chats, each counted on the day it started (docs/reports.md).",
        "required": [
            "chats",
            "answered",
            "missed",
            "open",
            "offline_messages",
            "first_response",
            "resolution",
            "ratings",
        ],
        "properties": {
            "chats": {**_COUNT, "description": "Live chats started."},
            "answered": {**_COUNT, "description": "Chats with at least one agent message."},
            "missed": {**_COUNT, "description": "Chats that ended without any agent message."},
            "open": {**_COUNT, "description": "Chats not ended yet, answered or not."},
            "offline_messages": {**_COUNT, "description": "Messages left while nobody could answer."},
            "first_response": {**_TIMES, "description": "From the start to the first agent message."},
            "resolution": {**_TIMES, "description": "From the start to the end, over the chats that ended."},
            "ratings": {
                "type": "object",
                "description": "The chats' current ratings.",
                "required": ["good", "bad"],
                "properties": {"good": _COUNT, "bad": _COUNT},
            },
        },
    },
    "ReportDay": {
        "allOf": [
            {
                "type": "object",
                "required": ["date"],
                "properties": {"date": {"type": "string", "format": "date"}},
            },
            _FIGURES,
        ]
    },
    "Report": {
        "type": "object",
        "required": ["from", "to", "tz", "site", "agent", "group_by", "totals", "days", "groups"],
        "properties": {
            "from": {"type": "string", "format": "date"},
            "to": {"type": "string", "format": "date"},
            "tz": {"type": "string", "description": "The time zone the days are counted in."},
            "site": {"type": ["string", "null"]},
            "agent": {"type": ["string", "null"]},
            "group_by": {"type": ["string", "null"], "enum": ["site", "team", "agent", None]},
            "totals": _FIGURES,
            "days": {**_DAYS, "description": "Every day of the range, in order, empty ones included."},
            "groups": {
                "type": "array",
                "description": "With group_by: each site or agent, most chats (and offline messages) "
                "first. Chats without an agent are in the group whose key is null, always last.",
                "items": {
                    "type": "object",
                    "required": ["key", "name", "totals", "days"],
                    "properties": {
                        "key": {"type": ["string", "null"]},
                        "name": {"type": "string"},
                        "totals": _FIGURES,
                        "days": _DAYS,
                    },
                },
            },
        },
    },
}
_DATE_PARAMETER = {"type": "string", "format": "date", "examples": ["2026-04-01"]}
_REPORT_PARAMETERS = [
    {
        "name": "from",
        "in": "query",
        "description": "The first day (YYYY-MM-DD), included. Default: 29 days before 'to'.",
        "schema": _DATE_PARAMETER,
    },
    {
        "name": "to",
        "in": "query",
        "description": "The last day, included; at most 366 days after 'from'. Default: today.",
        "schema": _DATE_PARAMETER,
    },
    {
        "name": "tz",
        "in": "query",
        "description": "The IANA time zone whose days are counted. Default: UTC.",
        "schema": {"type": "string", "default": "UTC", "examples": ["Europe/Berlin"]},
    },
    {"name": "site", "in": "query", "description": "Only this site's chats.", "schema": {"type": "string"}},
    {
        "name": "agent",
        "in": "query",
        "description": "Only this agent's chats: a login name, or the name another contact center gave.",
        "schema": {"type": "string"},
    },
    {
        "name": "group_by",
        "in": "query",
        "description": "Also each site's, each team's or each agent's figures.",
        "schema": {"type": "string", "enum": ["site", "team", "agent"]},
    },
]

PATHS: dict[str, Any] = {
    "/api/admin/reports": {
        "get": {
            "summary": "Figures of a range of days: chats, answers, missed chats, response and "
            "resolution times, ratings; by day, and by site or agent",
            "parameters": _REPORT_PARAMETERS,
            "responses": {
                "200": json_answer({"$ref": "#/components/schemas/Report"}, "The report."),
                "400": json_answer(
                    _ERROR,
                    "A parameter is not valid: 'error' is invalid_date, invalid_range, invalid_timezone, "
                    "invalid_group_by or invalid_filter, 'field' names the parameter.",
                ),
                "401": json_answer(_ERROR, "No valid API token."),
            },
        }
    },
}
