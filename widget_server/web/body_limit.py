"""Request bodies refused at their limit while they arrive, before anything parses them.

Starlette reads a body whole (``request.body()``) or spools a multipart form to disk before a handler
can look at its size, so a handler's own check comes after the memory or the disk was spent: a 30 MiB
JSON body, a 40 MiB form posted to the login page. This ASGI middleware, outermost, answers 413 as soon
as the declared ``Content-Length`` or the bytes received pass the route's limit; the app then reads a
disconnect and whatever it would still send is dropped. Written here because Starlette and uvicorn have
no per-route body limit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
DEFAULT_LIMIT = 1024 * KIB  # APIs, webhooks, forms: far above any legitimate body of ours
LOGIN_LIMIT = 16 * KIB  # a name, a password and a CSRF token


def too_large(limit: int) -> dict[str, Any]:
    """Our APIs' shape of the refusal (an API with another shape passes its own ``refusal_for``)."""
    return {"error": "too_large", "message": f"The request body may be at most {limit // KIB} KiB here."}


def _answer(refusal: dict[str, Any]) -> tuple[Message, Message]:
    body = json.dumps(refusal).encode()
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    """``limit_for(path)``: the most bytes a request body to that path may have; ``refusal_for(path,
    limit)``: the JSON body of the 413."""

    def __init__(
        self,
        app: ASGIApp,
        limit_for: Callable[[str], int],
        refusal_for: Callable[[str, int], dict[str, Any]] = lambda path, limit: too_large(limit),
    ) -> None:
        self.app = app
        self.limit_for = limit_for
        self.refusal_for = refusal_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        answer = _answer(self.refusal_for(scope["path"], limit))
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            for message in answer:
                await send(message)
            return
        received = 0
        refused = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        for message in answer:
                            await send(message)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # we answered 413; the app's own answer comes too late
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except ClientDisconnect:
            # A handler reading a body that we refused, or whose client went away: nobody is left to
            # answer, and it is no error of ours (Starlette raises it from ``body()`` and ``form()``).
            return
