"""JSON text out: every frame sent, every JSON column written, every bus message.

Compact and UTF-8 (non-ASCII characters as themselves, not ``\\u`` escapes), written by orjson: an event
frame in 0.65 µs against the json module's 5.9, and a message is serialised four or five times on its way
(the store's columns, the visitor's ack and echo, the consoles' copy).
"""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
