"""The server's log: plain lines for a terminal, or one JSON object a line for a log pipeline
(``log_format = "json"``, python-json-logger).

Every line says what it can of where it happened: the site, the chat and the client's address of the
connection it came from (bound once per connection with ``bind``, carried by contextvars into whatever
that connection's task logs, the chat service and the store included), and, for a refused handshake,
the rule (``extra={"rule": ...}``). uvicorn's own lines come under our name (``widget_server.http``),
without its lines for every websocket opened, refused or closed: thousands of visitors would drown the
rest, and the gate and the connections log what matters of them.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FORMATS = ("plain", "json")
UVICORN_NAME = "widget_server.http"

# uvicorn's (and websockets') lines for every websocket: the gate and the connections log what matters.
_PER_SOCKET = ("connection open", "connection closed", "connection rejected", '%s - "WebSocket %s"')

_CONTEXT: dict[str, contextvars.ContextVar[str | None]] = {
    name: contextvars.ContextVar(f"log_{name}", default=None) for name in ("site", "chat", "client")
}


def bind(**fields: str | None) -> None:
    """Name ``site``, ``chat`` or ``client`` for every line logged from here on in this task (and the
    tasks it starts)."""
    for name, value in fields.items():
        _CONTEXT[name].set(value)


class ContextFilter(logging.Filter):
    """Adds the bound fields to a record, and gives uvicorn's records our name (dropping its line per
    websocket opened or closed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("uvicorn"):
            if isinstance(record.msg, str) and record.msg.startswith(_PER_SOCKET):
                return False
            record.name = UVICORN_NAME
            record.__dict__.pop("color_message", None)  # uvicorn's copy of the message for terminals
        for name, var in _CONTEXT.items():
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


def log_config(level: str, fmt: str = "plain") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of the server (uvicorn's ``log_config``)."""
    formatter: dict[str, Any] = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        }
        if fmt == "json"
        else {"format": LOG_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "main",
        "stream": "ext://sys.stderr",
        "filters": ["context"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"main": formatter},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "widget_server": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }
