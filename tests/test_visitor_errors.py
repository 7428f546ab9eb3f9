"""Bad input over a real websocket: a clear error frame, nothing stored half-way, the connection usable."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from websockets.exceptions import ConnectionClosed

from tests.support.clients import HOST_ORIGIN, Server, Visitor, make_config, running
from widget_server.tokens import SALT, ResumeTokens

BAD_FRAMES = [
    ("not json", "{nope", "bad_frame", None),
    ("json but not an object", "[1, 2]", "bad_frame", None),
    ("no type", '{"text": "hi"}', "bad_frame", None),
    ("type not a string", '{"type": 7}', "bad_frame", None),
    ("unknown type", '{"type": "shout"}', "unknown_type", None),
    ("start without nickname", '{"type": "start"}', "invalid_field", "nickname"),
    ("start with blank nickname", '{"type": "start", "nickname": "   "}', "invalid_field", "nickname"),
    ("nickname too long", json.dumps({"type": "start", "nickname": "x" * 65}), "invalid_field", "nickname"),
    (
        "subject too long",
        json.dumps({"type": "start", "nickname": "C", "subject": "s" * 201}),
        "invalid_field",
        "subject",
    ),
    ("bad email", '{"type": "start", "nickname": "C", "email": "not-an-email"}', "invalid_field", "email"),
    (
        "userData not an object",
        '{"type": "start", "nickname": "C", "userData": [1]}',
        "invalid_field",
        "userData",
    ),
    (
        "userData with 21 keys",
        json.dumps({"type": "start", "nickname": "C", "userData": {f"k{i}": "v" for i in range(21)}}),
        "invalid_field",
        "userData",
    ),
    (
        "userData value not a string, number or boolean",
        '{"type": "start", "nickname": "C", "userData": {"a": {"b": 1}}}',
        "invalid_field",
        "userData",
    ),
    (
        "page not http",
        '{"type": "start", "nickname": "C", "page": "javascript:alert(1)"}',
        "invalid_field",
        "page",
    ),
    (
        "nickname with control characters",
        '{"type": "start", "nickname": "a\\u0000b"}',
        "invalid_field",
        "nickname",
    ),
    ("say before start", '{"type": "say", "id": "m1", "text": "hi"}', "not_started", None),
    ("typing before start", '{"type": "typing", "active": true}', "not_started", None),
    ("end before start", '{"type": "end"}', "not_started", None),
    ("resume without token", '{"type": "resume", "after": 0}', "invalid_field", "token"),
    ("resume with negative after", '{"type": "resume", "token": "x", "after": -1}', "invalid_field", "after"),
    (
        "resume with boolean after",
        '{"type": "resume", "token": "x", "after": true}',
        "invalid_field",
        "after",
    ),
    (
        "forged token",
        '{"type": "resume", "token": "eyJzIjoiZGVtbyJ9.forged.sig", "after": 0}',
        "invalid_token",
        None,
    ),
    ("frame over 16 KiB", json.dumps({"type": "say", "id": "m", "text": "x" * 17000}), "too_large", None),
]


async def test_every_bad_frame_gets_its_error_and_the_connection_stays_usable(server: Server) -> None:
    async with Visitor.connected(server) as visitor:
        for name, frame, code, field in BAD_FRAMES:
            await visitor.send(frame)
            error = await visitor.recv()
            assert error["type"] == "error" and error["code"] == code, (name, error)
            assert isinstance(error["message"], str) and len(error["message"]) > 10, name
            assert error.get("field") == field, (name, error)
        # Still usable, and nothing was stored by any of that.
        assert await server.runtime.store.count_chats() == 0
        await visitor.send({"type": "ping"})
        assert await visitor.recv() == {"type": "pong"}
        await visitor.start()
        assert (await visitor.say("finally", id="ok"))["seq"] == 2


async def test_say_errors_name_the_message(server: Server) -> None:
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        await visitor.send({"type": "say", "id": "m1", "text": ""})
        error = await visitor.expect("error")
        assert error == {**error, "code": "invalid_field", "field": "text", "id": "m1"}
        await visitor.send({"type": "say", "id": "m2", "text": "x" * 4001})
        assert (await visitor.expect("error"))["id"] == "m2"
        await visitor.send({"type": "say", "id": "i" * 65, "text": "hello"})
        assert (await visitor.expect("error"))["field"] == "id"


async def test_binary_frames_are_refused(server: Server) -> None:
    async with Visitor.connected(server) as visitor:
        await visitor.ws.send(b'{"type": "ping"}')
        error = await visitor.recv()
        assert error["code"] == "bad_frame"
        await visitor.send({"type": "ping"})
        assert await visitor.recv() == {"type": "pong"}


OTHER_SITES = {
    "sites": {
        "acme": {"name": "ACME", "allowed_origins": [HOST_ORIGIN]},
        "globex": {"name": "Globex", "allowed_origins": [HOST_ORIGIN]},
    },
    "resume_token_max_age": 60,
}


async def test_a_token_from_another_site_or_expired_is_refused(data_dir: Path) -> None:
    async with running(make_config(data_dir, OTHER_SITES)) as server:
        async with Visitor.connected(server, site="acme") as visitor:
            await visitor.start()
            acme_token = visitor.token
        async with Visitor.connected(server, site="globex") as visitor:
            await visitor.send({"type": "resume", "token": acme_token, "after": 0})
            assert (await visitor.recv())["code"] == "invalid_token"
            expired = _signed_an_hour_ago(server.runtime.secret_key, "globex", "x")
            await visitor.send({"type": "resume", "token": expired, "after": 0})
            assert (await visitor.recv())["code"] == "invalid_token"
            # A valid token for a chat that does not exist.
            tokens = ResumeTokens(server.runtime.secret_key, max_age=60)
            await visitor.send(
                {"type": "resume", "token": tokens.issue("globex", "no-such-chat"), "after": 0}
            )
            assert (await visitor.recv())["code"] == "invalid_token"


class _HourAgoSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


def _signed_an_hour_ago(secret_key: str, site: str, chat: str) -> str:
    """A token exactly like ours, but dated an hour ago (past the configured 60 s)."""
    return URLSafeTimedSerializer(secret_key, salt=SALT, signer=_HourAgoSigner).dumps({"s": site, "c": chat})


async def test_resume_after_beyond_the_end_is_refused(server: Server) -> None:
    async with Visitor.connected(server) as visitor:
        await visitor.start()
        token = visitor.token
    async with Visitor.connected(server) as visitor:
        await visitor.send({"type": "resume", "token": token, "after": 99})
        error = await visitor.recv()
        assert error == {**error, "code": "invalid_field", "field": "after"}


FLOOD_SITE = {
    "sites": {
        "demo": {
            "name": "Demo",
            "allowed_origins": [HOST_ORIGIN],
            "limits": {"frames_per_second": 5, "frame_burst": 10, "messages_per_minute": 6},
        }
    }
}


async def test_a_flood_of_frames_is_rate_limited_then_closed(
    data_dir: Path, caplog_info: pytest.LogCaptureFixture
) -> None:
    async with running(make_config(data_dir, FLOOD_SITE)) as server:
        async with Visitor.connected(server) as visitor:
            for _ in range(12):
                await visitor.send({"type": "ping"})
            frames = [await visitor.recv() for _ in range(11)]
            assert frames[:10] == [{"type": "pong"}] * 10
            assert frames[10]["code"] == "rate_limited"
            # Keep flooding: sustained abuse closes the connection with 1008.
            with pytest.raises(ConnectionClosed) as closed:
                for _ in range(500):
                    await visitor.send({"type": "ping"})
                    await asyncio.sleep(0)
                while True:
                    await visitor.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        rate_lines = [r for r in caplog_info.records if "over the frame rate limit" in r.getMessage()]
        assert len(rate_lines) == 1  # said once, not per frame


async def test_messages_per_minute_per_chat(data_dir: Path) -> None:
    async with running(make_config(data_dir, FLOOD_SITE)) as server, Visitor.connected(server) as visitor:
        await visitor.start()
        # 6 a minute: a burst of 2 (a third), then refused.
        await visitor.say("one", id="1")
        await visitor.say("two", id="2")
        await visitor.send({"type": "say", "id": "3", "text": "three"})
        error = await visitor.expect("error")
        assert error == {**error, "code": "rate_limited", "id": "3"}
