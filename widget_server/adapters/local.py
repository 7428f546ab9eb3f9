"""The built-in contact center: agents answer in our own console (widget_server/web/agent.py).

The chat log is the whole integration: the console reads it and writes agent events into it through the
chat service, so this adapter has nothing to call.
"""

from __future__ import annotations

from widget_server.adapters import Polled, Started
from widget_server.model import Chat, Event
from widget_server.settings_table import Setting

SETTINGS: dict[str, Setting] = {}


class LocalAdapter:
    name = "local"
    capabilities: frozenset[str] = frozenset({"attachments"})  # agents see files in the console
    setup_problem: str | None = None
    polls = False
    delivers = False

    async def start(self, chat: Chat) -> Started:
        return Started()

    async def send_message(self, chat: Chat, event: Event, *, retry: bool = False) -> None:
        pass

    async def send_attachment(self, chat: Chat, event: Event, data: bytes) -> None:
        pass

    async def typing(self, chat: Chat, active: bool) -> None:
        pass

    async def visit(self, chat: Chat, url: str) -> None:
        pass

    async def end(self, chat: Chat) -> None:
        pass

    async def poll(self, chat: Chat) -> Polled:
        return Polled()

    async def close(self) -> None:
        pass
