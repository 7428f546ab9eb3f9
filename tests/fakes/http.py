"""What every fake contact-center server needs of an HTTP request beyond Starlette."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request


async def json_params(request: Request) -> dict[str, Any]:
    """The body of a control request as a JSON object ({} for an empty body or anything else)."""
    body = await request.body()
    params = json.loads(body) if body else {}
    return params if isinstance(params, dict) else {}


async def wait_unless_disconnected(request: Request, seconds: float) -> bool:
    """Sleep, but stop early if the client goes away. True if the client is still there.

    Once the body has been read, the next ASGI receive() returns only when the client disconnects; without
    this, a test whose client timed out would wait for the whole delay at server shutdown.
    """

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        done, _ = await asyncio.wait([watcher], timeout=seconds)
    finally:
        watcher.cancel()
    return not done
