"""Run an ASGI app under a real uvicorn server on a free loopback port, for the length of a test.

Tests talk to fakes and to our own app over real sockets (fakes, not mocks), so what they
exercise is what production exercises: HTTP parsing, headers, keep-alive, timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

_STARTUP_TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def serve(app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> AsyncIterator[str]:
    """Serve `app` on the running event loop and yield its base URL, e.g. ``http://127.0.0.1:41234``.

    The port is chosen by binding the socket ourselves (port 0) and handing it to uvicorn, so there is
    no window in which another process can take it; pass ``port`` to serve again where a stopped server
    was (a restart). Extra keyword arguments go to ``uvicorn.Config``
    (for example ``proxy_headers=True, forwarded_allow_ips="*"``). On exit the server finishes the
    requests in flight, runs the lifespan shutdown and closes the socket, even if the body raised.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and without it
    # every request after the first on a keep-alive connection waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        options: dict[str, Any] = {"http": "h11", "lifespan": "on", "log_level": "warning"} | config
        server = uvicorn.Server(uvicorn.Config(app, **options))

        async def run() -> None:
            try:
                await server.serve(sockets=[sock])
            except SystemExit as exc:
                # uvicorn calls sys.exit() when the lifespan startup fails; inside a task that would
                # escape the event loop instead of failing the test that caused it.
                raise RuntimeError(
                    f"uvicorn exited with code {exc.code} (lifespan startup failed?)"
                ) from None

        task = asyncio.create_task(run())
        try:
            async with asyncio.timeout(_STARTUP_TIMEOUT):
                while not server.started:
                    if task.done():
                        task.result()  # raises the startup error, if any
                        raise RuntimeError("uvicorn stopped before it started serving")
                    await asyncio.sleep(0.005)
            url_host = f"[{host}]" if family == socket.AF_INET6 else host
            yield f"http://{url_host}:{port}"
        finally:
            server.should_exit = True
            if not server.started:
                task.cancel()  # stuck in startup: there is nothing to shut down gracefully
            await asyncio.wait([task])
        if not task.cancelled():
            task.result()  # a server that crashed while serving fails the test that used it
    finally:
        sock.close()
