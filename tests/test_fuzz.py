"""Whatever a visitor, an agent or an API client sends, the server answers as documented and keeps going.

Hypothesis makes the input: well-formed frames and bodies with every field of the wrong type, depth or
length, JSON that is not an object, text that is not JSON, binary frames. It goes to a real
`widget-server` process over real sockets: visitor frames before and after a `start`, console frames
from a logged-in agent, admin and history API requests with a valid token. Every visitor answer must be
a frame type and every error a code that docs/protocol.md lists (never `internal_error`, a fault of
ours), each socket must still answer a `ping` (or be closed with a documented close code), no API
answers 5xx or anything but its JSON error shape, and the server logs no traceback. The documented names
are read from docs/protocol.md itself, so the test holds the server to what a client author reads.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.clients import HOST_ORIGIN, log_in
from tests.support.server_process import ADMIN_PASSWORD, server_process

PROTOCOL_DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
CLOSE_CODES = {1007, 1008, 1009, 1013}  # not UTF-8, refused too often, too large, a slow reader
WAIT = 5.0
FUZZ = settings(max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _documented(section: str) -> set[str]:
    """The names in the first column of a section's table in docs/protocol.md."""
    text = PROTOCOL_DOC.read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", body, re.MULTILINE))


SERVER_TYPES = _documented("Server to visitor")
ERROR_CODES = _documented("Error codes") - {"internal_error"}
VISITOR_TYPES = sorted(_documented("Visitor to server"))
# The console's protocol (widget_server/web/agent.py): its frame types, and one error code of its own.
CONSOLE_TYPES = ["accept", "say", "note", "typing", "end", "history", "read", "status", "ping"]
CONSOLE_ANSWERS = {"hello", "chat", "event", "typing", "presence", "history", "ack", "error", "pong", "agent"}
# The console's own (widget_server/web/agent.py): no such chat, accepted by another, not this agent's.
CONSOLE_ERRORS = ERROR_CODES | {"not_found", "taken", "not_yours"}
FIELDS = [
    *("nickname", "subject", "email", "userData", "page", "id", "token", "after", "text", "active"),
    *("url", "name", "message", "rating", "comment", "expanded", "chat", "identity"),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def frames(types: list[str], fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[str | bytes]:
    """Frames of these types with any of these fields, and anything else a socket can carry."""
    return st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from([*types, "", "Say", "hello"])}, optional=fields).map(
            json.dumps
        ),
        json_values.map(json.dumps),
        st.text(max_size=200),
        st.binary(max_size=100),
        st.integers(1, 40).map(
            lambda depth: '{"type":"say","id":"d","text":' + "[" * depth + "]" * depth + "}"
        ),
    )


@dataclass
class FuzzServer:
    url: str
    chat: str  # a real chat of the site "fuzz", for the console and the history API
    cookie: str  # an agent's session
    token: str  # an admin API token

    def ws(self, path: str) -> str:
        return "ws" + self.url.removeprefix("http") + path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    """A `widget-server` process with one site whose limits let every frame through to its handler."""
    limits = {
        "chats_per_ip_per_hour": 100_000,
        "messages_per_minute": 100_000,
        "frames_per_second": 10_000,
        "frame_burst": 10_000,
    }
    site = {"name": "Fuzz", "allowed_origins": [HOST_ORIGIN], "backend": "local", "limits": limits}
    with server_process(tmp_path_factory.mktemp("fuzz"), {"sites": {"fuzz": site}}) as process:
        with connect(process.url.replace("http", "ws") + "/ws/fuzz", origin=HOST_ORIGIN) as ws:  # type: ignore[arg-type]
            ws.send(json.dumps({"type": "start", "nickname": "Fuzz"}))
            chat = next(
                f for f in map(json.loads, iter(lambda: ws.recv(WAIT), None)) if f["type"] == "welcome"
            )
        url = process.url
        yield FuzzServer(url, chat["chat"], asyncio.run(_log_in(url)), process.token("fuzz"))


async def _log_in(url: str) -> str:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        return await log_in(http, url, "admin", ADMIN_PASSWORD)


def _answers(ws: ClientConnection, types: set[str], codes: set[str]) -> Iterator[dict[str, Any]]:
    """Every frame the server sends until its pong, each checked against the documented protocol."""
    while True:
        frame = json.loads(ws.recv(WAIT))
        assert frame["type"] in types, frame
        if frame["type"] == "error":
            assert frame["code"] in codes and frame["message"], frame
        yield frame
        if frame["type"] == "pong":
            return


def _exchange(ws: ClientConnection, sent: list[str | bytes], types: set[str], codes: set[str]) -> None:
    """Send the frames and a ping: the answers are documented, and the socket lives on or is closed
    with a documented code."""
    for frame in sent:
        ws.send(frame)
    ws.send(json.dumps({"type": "ping"}))
    try:
        answers = list(_answers(ws, types, codes))
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code in CLOSE_CODES, closed
        return
    assert answers[-1]["type"] == "pong"


@FUZZ
@given(
    sent=st.lists(frames(VISITOR_TYPES, {name: json_values for name in FIELDS}), min_size=1, max_size=6),
    started=st.booleans(),
)
def test_any_visitor_frame_gets_a_documented_answer_and_the_socket_lives_on(
    server: FuzzServer, sent: list[str | bytes], started: bool
) -> None:
    with connect(server.ws("/ws/fuzz"), origin=HOST_ORIGIN, open_timeout=WAIT) as ws:  # type: ignore[arg-type]
        assert json.loads(ws.recv(WAIT))["type"] == "hello"
        if started:
            ws.send(json.dumps({"type": "start", "nickname": "Fuzz"}))
        _exchange(ws, sent, SERVER_TYPES, ERROR_CODES)


@FUZZ
@given(data=st.data())
def test_any_console_frame_gets_a_documented_answer_and_the_socket_lives_on(
    server: FuzzServer, data: st.DataObject
) -> None:
    fields = {name: json_values for name in ("id", "text", "active", "after")}
    fields["chat"] = st.sampled_from([server.chat, "no-such-chat"]) | json_values
    fields["status"] = st.sampled_from(["online", "away", "offline"]) | json_values
    sent = data.draw(st.lists(frames(CONSOLE_TYPES, fields), min_size=1, max_size=6))
    cookie = f"widget_session={server.cookie}"
    headers = {"Cookie": cookie}
    with connect(
        server.ws("/agent/ws"), origin=server.url, additional_headers=headers, open_timeout=WAIT
    ) as ws:  # type: ignore[arg-type]
        assert json.loads(ws.recv(WAIT))["type"] == "hello"
        _exchange(ws, sent, CONSOLE_ANSWERS, CONSOLE_ERRORS)


site_tables = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from(["fz1", "fz2", "", "Fz 1"]) | json_values,
        "name": json_values,
        "allowed_origins": st.lists(
            st.sampled_from(["https://a.example", "http://x", "*", ""]) | json_values
        ),
        "blocked_ips": st.lists(st.sampled_from(["10.0.0.0/8", "10.0.0.1/8", "::1", "x"]) | json_values),
        "backend": st.sampled_from(["local", "gws", "helpcrunch", "nope"]) | json_values,
        "limits": st.dictionaries(st.sampled_from(["frames_per_second", "sockets_per_ip", "x"]), json_values),
        "hours": st.dictionaries(st.sampled_from(["timezone", "monday", "holidays"]), json_values),
        "attachments": st.dictionaries(st.sampled_from(["max_bytes", "max_files", "types"]), json_values),
    },
)
HISTORY = "/api/v2/chat/chats"
requests = st.one_of(
    st.tuples(st.just("POST"), st.just("/api/admin/sites"), site_tables | json_values),
    st.tuples(st.sampled_from(["PUT", "PATCH"]), st.sampled_from(["/api/admin/sites/fz1"]), site_tables),
    st.tuples(
        st.sampled_from(["POST", "DELETE"]),
        st.sampled_from(["/api/admin/sites/fz1/allowed_origins", "/api/admin/sites/fz1/blocked_ips"]),
        st.fixed_dictionaries({"value": json_values}) | json_values,
    ),
    st.tuples(st.just("PUT"), st.just(HISTORY + "/{chat}"), json_values),
    st.tuples(
        st.just("GET"), st.text(max_size=300).map(lambda q: "/api/v2/chat/chats/search?q=" + q), st.none()
    ),
    st.tuples(st.just("GET"), st.text(max_size=60).map(lambda p: f"{HISTORY}?{p}"), st.none()),
)


@FUZZ
@given(sent=st.lists(requests, min_size=1, max_size=4))
def test_any_api_request_gets_a_json_answer_and_never_a_5xx(
    server: FuzzServer, sent: list[tuple[str, str, Any]]
) -> None:
    asyncio.run(_requests(server, sent))


async def _requests(server: FuzzServer, sent: list[tuple[str, str, Any]]) -> None:
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for method, path, body in sent:
            data = None if body is None else json.dumps(body)
            url = server.url + path.replace("{chat}", server.chat)
            async with http.request(method, url, data=data, headers=headers) as response:
                assert response.status < 500, (method, path, body, await response.text())
                if response.status >= 400:
                    answer = await response.json()
                    assert isinstance(answer.get("error"), str), answer
