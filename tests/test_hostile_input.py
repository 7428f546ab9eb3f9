"""Input built to break a handler: deep nesting, lone surrogates, huge queries and bodies. Each gets its
documented error, nothing is stored half-way, and the log holds no traceback."""

from __future__ import annotations

import asyncio
import io
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from websockets.exceptions import ConnectionClosed

from tests.support.clients import HOST_ORIGIN, Agent, Server, Visitor, make_config, running
from widget_server.model import Actor

DEEP = "[" * 100_000 + "]" * 100_000  # well past the interpreter's recursion limit
DEEP_IN_FRAME = '{"type":"say","id":"x","text":"hi","extra":' + "[" * 5000 + "]" * 5000 + "}"
SURROGATE = '"\\ud800"'  # JSON for a lone surrogate: valid JSON, not valid Unicode


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Neither our loggers nor uvicorn's (which writes to stderr itself) reported an error."""
    caplog.set_level(logging.INFO)
    yield
    broken = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert broken == [], [r.getMessage() for r in broken]
    assert "Traceback" not in capsys.readouterr().err


@pytest.fixture
async def api(data_dir: Path) -> AsyncIterator[tuple[Server, aiohttp.ClientSession, dict[str, str]]]:
    async with running(make_config(data_dir)) as server, aiohttp.ClientSession() as http:
        _, secret = await server.app.state.site_admin.create_token(Actor("test", "cli"), "tests")
        yield server, http, {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


@pytest.mark.usefixtures("no_tracebacks")
async def test_a_visitor_frame_nested_deep_or_not_unicode_is_an_error_frame(server: Server) -> None:
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        await visitor.send(DEEP_IN_FRAME[:16_000])
        assert (await visitor.expect("error"))["code"] in ("bad_frame", "too_large")
        await visitor.send('{"type":"say","id":"m1","text":' + SURROGATE + "}")
        error = await visitor.expect("error")
        assert error["code"] == "bad_frame" and "Unicode" in error["message"]
        await visitor.send('{"type":"start","nickname":' + SURROGATE + "}")
        assert (await visitor.expect("error"))["code"] == "bad_frame"
        await visitor.say("still here", id="m2")  # the socket lives on, and nothing was stored
        events = await server.runtime.store.events_after(visitor.chat or "", 0)
        assert [e.data.get("text") for e in events if e.kind == "message"] == ["still here"]


@pytest.mark.usefixtures("no_tracebacks")
async def test_deep_frames_past_the_rate_limit_lose_no_reply(server: Server) -> None:
    """Past the frame rate limit a refused frame is answered with its id: reading a deep one for it
    broke the socket, and the replies queued before were lost."""
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        await visitor.send({"type": "say", "id": "m1", "text": "before"})
        for _ in range(45):  # the burst of pings uses up frames_per_second's allowance
            await visitor.send({"type": "ping"})
        for _ in range(5):
            await visitor.send("[" * 3000 + "]" * 3000)
        await visitor.expect("ack", id="m1")  # the queued reply still came
        assert (await visitor.expect("error"))["code"] == "rate_limited"
        await asyncio.sleep(1.5)
        await visitor.say("after", id="m2")  # and the socket lives on


@pytest.mark.usefixtures("no_tracebacks")
async def test_an_agent_frame_nested_deep_or_not_unicode_is_an_error_frame(server: Server) -> None:
    async with Agent.connected(server) as agent:
        await agent.ws.send('{"type":"accept","chat":' + "[" * 3000 + "]" * 3000 + "}")
        assert (await agent.expect("error"))["code"] == "bad_frame"
        await agent.ws.send('{"type":"accept","chat":' + SURROGATE + "}")
        assert (await agent.expect("error"))["code"] == "bad_frame"


@pytest.mark.usefixtures("no_tracebacks")
async def test_api_bodies_nested_deep_or_not_unicode_are_400(
    api: tuple[Server, aiohttp.ClientSession, dict[str, str]],
) -> None:
    server, http, headers = api
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        chat = visitor.chat
    cases: list[tuple[str, str, str, str]] = [
        ("POST", "/api/admin/sites", DEEP[:60_000], "invalid_json"),
        ("POST", "/api/admin/sites", '{"id":"acme","name":' + SURROGATE + "}", "invalid_json"),
        ("PUT", f"/api/v2/chat/chats/{chat}", DEEP[:60_000], "InvalidRequest"),
        ("PUT", f"/api/v2/chat/chats/{chat}", '{"comment":' + SURROGATE + "}", "InvalidRequest"),
    ]
    for method, path, body, code in cases:
        async with http.request(method, server.url + path, data=body.encode(), headers=headers) as response:
            answer = await response.json()
            assert response.status == 400 and answer["error"] == code, (path, body[:40], answer)
    assert server.runtime.sites.get("acme") is None  # nothing of a refused body was stored


@pytest.mark.usefixtures("no_tracebacks")
async def test_a_search_of_thousands_of_terms_is_a_400(
    api: tuple[Server, aiohttp.ClientSession, dict[str, str]],
) -> None:
    server, http, headers = api
    for q in [" ".join(f"w{n}" for n in range(2000)), " ".join(["x"] * 300)]:
        async with http.get(f"{server.url}/api/v2/chat/chats/search", params={"q": q}, headers=headers) as r:
            assert r.status == 400 and "too" in (await r.json())["description"]


def _part(name: str, filename: str = "") -> bytes:
    """The head of a multipart/form-data body (boundary "b") whose one field never ends."""
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode()


async def _send_slowly(total: int, head: bytes = b"") -> AsyncIterator[bytes]:
    yield head
    chunk = b"x" * 65536
    for _ in range(total // len(chunk)):
        yield chunk
        await asyncio.sleep(0)


@pytest.mark.usefixtures("no_tracebacks")
async def test_bodies_are_refused_at_their_limit_before_they_are_read(
    api: tuple[Server, aiohttp.ClientSession, dict[str, str]],
) -> None:
    server, http, headers = api
    # Declared too large: answered at once, the body never read; each API in its own shape.
    for path, code in [("/api/admin/sites", "too_large"), ("/api/v2/chat/chats", "RequestTooLarge")]:
        big = io.BytesIO(b"{" * (30 * 2**20))
        try:
            async with http.post(server.url + path, data=big, headers=headers) as response:
                assert response.status == 413 and (await response.json())["error"] == code
        except aiohttp.ClientOSError:
            pass  # the server answered and closed while the client was still sending: refused too
    # Chunked (no length declared): refused when the bytes received pass the limit.
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        token = visitor.token
    form = {"Content-Type": "multipart/form-data; boundary=b"}
    upload = {**form, "Origin": HOST_ORIGIN, "Authorization": f"Bearer {token}"}
    for method, path, extra, head in [
        ("PUT", f"/api/v2/chat/chats/{uuid.uuid4()}", headers, b""),
        ("POST", "/api/admin/sites", headers, b""),
        ("POST", "/agent/login", form, _part("password")),
        ("POST", "/attachments/demo", upload, _part("file", "a.bin")),
    ]:
        body = _send_slowly(40 * 2**20, head)
        try:
            async with http.request(method, server.url + path, data=body, headers=extra) as response:
                assert response.status == 413, path
        except aiohttp.ClientOSError:
            pass  # the server answered and closed while the client was still sending: refused too
    async with http.get(server.url + "/healthz") as response:
        assert response.status == 200  # and everyone else is still served


@pytest.mark.usefixtures("no_tracebacks")
async def test_text_not_utf8_closes_with_1007_and_a_vanished_client_is_no_error(
    server: Server,
) -> None:
    async with Visitor.connected(server) as broken, Visitor.connected(server) as gone:
        await broken.start()
        await broken.ws.send(b'{"type":"say","id":"m1","text":"\xff"}', text=True)
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # what the start sent, then the close
                await broken.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
        # A client that drops its connection while the server answers it (no close frame).
        await gone.start()
        await gone.send({"type": "end"})
        gone.ws.transport.abort()
        async with Visitor.connected(server) as other:  # everyone else is still served
            await other.start()
            await other.say("still here", id="m2")
