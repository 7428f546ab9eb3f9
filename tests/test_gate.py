"""The gate in front of the visitor websocket: real handshakes, real Origin headers, real source
addresses (all of 127.0.0.0/8 is loopback on Linux, so a client bound to 127.0.0.9 is another visitor),
and a trusted proxy path."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.clients import HOST_ORIGIN, Agent, Server, Visitor, make_config, running

SITES = {
    "acme": {
        "name": "ACME",
        "allowed_origins": ["https://acme.example", "https://*.acme.example", "http://localhost:*"],
        "blocked_ips": ["127.0.0.9", "198.51.100.0/24", "2001:db8::/32"],
        "limits": {"sockets_per_ip": 3},
    },
    "other": {"name": "Other", "allowed_origins": ["https://other.example"]},
}


async def handshake(server: Server, site: str, origin: str | None, **options: Any) -> int:
    """The HTTP status the handshake got: 101 when accepted."""
    headers = {} if origin is None else {"Origin": origin}
    try:
        async with connect(server.ws_url(f"/ws/{site}"), additional_headers=headers, **options) as ws:
            await ws.recv()  # hello
            return 101
    except InvalidStatus as refused:
        assert refused.response.body == b"", "a refusal must not say why"
        return refused.response.status_code


CASES = [
    ("acme", "https://acme.example", 101),
    ("acme", "https://shop.acme.example", 101),
    ("acme", "https://ACME.example:443", 101),
    ("acme", "http://localhost:3000", 101),
    ("acme", "https://acme.example.evil.com", 403),
    ("acme", "https://evilacme.example", 403),
    ("acme", "http://acme.example", 403),
    ("acme", "https://acme.example:8443", 403),
    ("acme", "null", 403),
    ("acme", None, 403),
    ("acme", "https://other.example", 403),
    ("other", "https://acme.example", 403),
    ("nope", "https://acme.example", 403),
    ("ACME", "https://acme.example", 403),
]


async def test_origins_are_matched_exactly(data_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="widget_server.gate")
    async with running(make_config(data_dir, {"sites": SITES})) as server:
        results = [await handshake(server, site, origin) for site, origin, _ in CASES]
    assert results == [expected for _, _, expected in CASES]
    lines = [r.getMessage() for r in caplog.records if r.name == "widget_server.gate"]
    assert len(lines) == sum(1 for *_, expected in CASES if expected == 403)
    assert (
        "site='acme' origin='https://acme.example.evil.com' ip=127.0.0.1 rule=origin_not_allowed" in lines[0]
    )
    assert any("rule=origin_missing" in line for line in lines)
    assert any("site='nope'" in line and "rule=unknown_site" in line for line in lines)


async def test_a_blocked_address_is_refused_and_a_neighbour_is_not(data_dir: Path) -> None:
    async with running(make_config(data_dir, {"sites": SITES})) as server:
        assert await handshake(server, "acme", "https://acme.example", local_addr=("127.0.0.9", 0)) == 403
        # 127.0.0.90 starts with "127.0.0.9": an unanchored match would refuse it too.
        assert await handshake(server, "acme", "https://acme.example", local_addr=("127.0.0.90", 0)) == 101
        assert await handshake(server, "other", "https://other.example", local_addr=("127.0.0.9", 0)) == 101


PROXIED = {"trusted_proxies": ["127.0.0.1"], "sites": SITES}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Forwarded-For": "198.51.100.7"}, 403),  # the client, as our proxy saw it, is blocked
        ({"X-Forwarded-For": "203.0.113.5"}, 101),
        # A visitor forging the leftmost entry does not matter: the proxy appended the real one.
        ({"X-Forwarded-For": "203.0.113.5, 198.51.100.7"}, 403),
        ({"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}, 101),
        ({"Forwarded": 'for="[2001:db8::1]:4711"'}, 403),
        ({"Forwarded": "for=203.0.113.5"}, 101),
        ({"X-Forwarded-For": "::ffff:198.51.100.7"}, 403),
    ],
)
async def test_behind_a_trusted_proxy_the_forwarded_client_counts(
    data_dir: Path, headers: dict[str, str], expected: int
) -> None:
    async with running(make_config(data_dir, PROXIED)) as server:
        status = await _with_headers(server, headers)
    assert status == expected


async def test_forwarding_headers_from_an_untrusted_peer_are_ignored(data_dir: Path) -> None:
    async with running(make_config(data_dir, {"sites": SITES})) as server:  # no trusted proxies
        # A visitor claiming to be someone else is judged by their own address.
        assert await _with_headers(server, {"X-Forwarded-For": "198.51.100.7"}) == 101
        assert (
            await _with_headers(server, {"X-Forwarded-For": "203.0.113.5"}, local_addr=("127.0.0.9", 0))
            == 403
        )


async def _with_headers(server: Server, headers: dict[str, str], **options: Any) -> int:
    try:
        async with connect(
            server.ws_url("/ws/acme"),
            additional_headers={"Origin": "https://acme.example", **headers},
            **options,
        ) as ws:
            await ws.recv()
            return 101
    except InvalidStatus as refused:
        return refused.response.status_code


async def test_sockets_per_address(data_dir: Path) -> None:
    async with running(make_config(data_dir, {"sites": SITES})) as server:
        tabs = [Visitor.connected(server, site="acme", origin="https://acme.example") for _ in range(3)]
        opened = [await tab.__aenter__() for tab in tabs]
        try:
            assert await handshake(server, "acme", "https://acme.example") == 403
            assert await handshake(server, "acme", "https://acme.example", local_addr=("127.0.0.2", 0)) == 101
        finally:
            for tab in tabs:
                await tab.__aexit__(None, None, None)
        assert len(opened) == 3
        assert await handshake(server, "acme", "https://acme.example") == 101  # closed ones no longer count


async def test_chats_per_address_per_hour(data_dir: Path) -> None:
    limited = {"sites": {"acme": {**SITES["acme"], "limits": {"chats_per_ip_per_hour": 2}}}}
    async with running(make_config(data_dir, limited)) as server:
        async with Visitor.connected(server, site="acme", origin="https://acme.example") as visitor:
            for n in range(2):
                await visitor.start(nickname=f"Chris {n}")
                await visitor.send({"type": "end"})
                await visitor.expect("event", kind="state", state="ended")
            await visitor.send({"type": "start", "nickname": "Chris 3"})
            error = await visitor.expect("error")
            assert error["code"] == "rate_limited"
        async with Visitor.connected(
            server, site="acme", origin="https://acme.example", local_addr=("127.0.0.3", 0)
        ) as neighbour:
            await neighbour.start()


async def hello_over_http(
    server: Server, site: str, origin: str | None, local: str = "127.0.0.1"
) -> aiohttp.ClientResponse:
    """``GET /hello/{site}``, as the widget asks on a page view, from a page of ``origin``."""
    headers = {} if origin is None else {"Origin": origin}
    connector = aiohttp.TCPConnector(local_addr=(local, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        response = await http.get(f"{server.url}/hello/{site}", headers=headers)
        await response.read()
        return response


async def test_the_hello_over_http_has_the_same_gate(data_dir: Path) -> None:
    """A page view asks over HTTP instead of opening a socket: the same origins and addresses get in."""
    async with running(make_config(data_dir, {"sites": SITES})) as server:
        for site, origin, expected in CASES:
            response = await hello_over_http(server, site, origin)
            assert response.status == (200 if expected == 101 else 403), (site, origin)
            if response.status == 403:
                assert await response.read() == b"", "a refusal must not say why"
                # Readable as a refusal by any page (the widget then stays quiet), and saying nothing.
                assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert (await hello_over_http(server, "acme", "https://acme.example", "127.0.0.9")).status == 403
        assert (await hello_over_http(server, "acme", "https://acme.example", "127.0.0.90")).status == 200

        response = await hello_over_http(server, "acme", "https://shop.acme.example")
        hello = await response.json()
        assert hello["type"] == "hello" and hello["name"] == "ACME" and hello["available"] is False
        # Readable by that page only, kept briefly by that browser only.
        assert response.headers["Access-Control-Allow-Origin"] == "https://shop.acme.example"
        assert response.headers["Vary"] == "Origin"
        assert response.headers["Cache-Control"].startswith("private, max-age=")
        # The same frame the socket sends first.
        async with Visitor.connected(server, site="acme", origin="https://acme.example") as visitor:
            assert visitor.hello == hello


async def test_a_page_of_the_chat_host_itself_gets_its_hello(data_dir: Path) -> None:
    """A browser sends no Origin with a same-origin GET; Sec-Fetch-Site, which pages cannot set, says where
    the page is. The server's own origin is then the page's, and must be allowed like any other."""
    async with running(make_config(data_dir, {"sites": SITES})) as server:
        own = {"Sec-Fetch-Site": "same-origin"}
        async with aiohttp.ClientSession() as http:
            host = server.url.replace("127.0.0.1", "localhost")  # acme allows http://localhost:*
            async with http.get(f"{host}/hello/acme", headers=own) as response:
                assert response.status == 200
            async with http.get(f"{server.url}/hello/acme", headers=own) as response:
                assert response.status == 403, "http://127.0.0.1:PORT is not among acme's origins"
            for fetch_site in ("cross-site", "same-site", "none"):
                headers = {"Sec-Fetch-Site": fetch_site}
                async with http.get(f"{host}/hello/acme", headers=headers) as response:
                    assert response.status == 403, fetch_site


async def test_the_hello_over_http_says_when_an_agent_is_online(server: Server) -> None:
    assert (await (await hello_over_http(server, "demo", HOST_ORIGIN)).json())["available"] is False
    async with Agent.connected(server):
        assert (await (await hello_over_http(server, "demo", HOST_ORIGIN)).json())["available"] is True
