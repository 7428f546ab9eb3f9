"""A TCP link between our server and a database or Redis that a test can break in the ways networks do:

- ``cut()``: every open connection is dropped and new ones are refused until ``restore()``, as when the
  route to that host fails;
- ``deafen()``: the open connections stay open but carry nothing more, dropping data the way no socket
  notices by itself (connections opened afterwards work);
- ``delay``: every chunk is held that long, in order: a slow network.
"""

from __future__ import annotations

import asyncio
import contextlib


class Link:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", *, delay: float = 0.0) -> None:
        self.target = (target_host, target_port)
        self.delay = delay
        self.port = 0
        self.cut_off = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._connections: list[dict[str, bool]] = []

    async def __aenter__(self) -> Link:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self._drop_all()
        await self._server.wait_closed()

    def cut(self) -> None:
        self.cut_off = True
        self._drop_all()

    def restore(self) -> None:
        self.cut_off = False

    def deafen(self) -> None:
        for connection in self._connections:
            connection["deaf"] = True

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        connection = {"deaf": False}
        self._connections.append(connection)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if not connection["deaf"]:
                        sink.write(data)
                        await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self._writers -= {writer, upstream_writer}
