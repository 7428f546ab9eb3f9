"""Attachments over real HTTP: uploads with the chat's token from an allowed origin, types by content,
limits, signed downloads served as attachments, agents' files, and nothing half-stored."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from tests.support.clients import HOST_ORIGIN, Agent, Server, Visitor, make_config, running
from widget_server.attachments import safe_name, sniff
from widget_server.config import ConfigError
from widget_server.model import Actor
from widget_server.web.attachments import LINK_SALT


def png(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" * width * height)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


SITES = {
    "acme": {
        "name": "ACME",
        "allowed_origins": [HOST_ORIGIN],
        "attachments": {"max_bytes": 4096, "max_files": 3},
    },
    "other": {"name": "Other", "allowed_origins": [HOST_ORIGIN]},
}


async def upload(
    server: Server,
    token: str | None,
    data: bytes,
    filename: str = "photo.png",
    *,
    site: str = "acme",
    origin: str = HOST_ORIGIN,
    id: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    if id is not None:
        form.add_field("id", id)
    headers = {"Origin": origin}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.url}/attachments/{site}", data=form, headers=headers) as response,
    ):
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body, dict(response.headers)


async def test_a_visitor_attaches_a_file_and_downloads_it(data_dir: Path) -> None:
    async with running(make_config(data_dir, {"sites": SITES})) as server:
        async with Visitor.connected(server, site="acme") as visitor:
            assert visitor.hello["capabilities"] == ["attachments"]
            await visitor.start()
            status, file, headers = await upload(server, visitor.token, png(), "holiday.gif", id="f1")
            assert status == 201, file
            assert headers["Access-Control-Allow-Origin"] == HOST_ORIGIN
            # The type is the content's, and the name's extension follows it.
            assert file == {**file, "name": "holiday.png", "type": "image/png", "size": len(png())}
            event = await visitor.expect("event", kind="attachment")
            assert event["from"] == "visitor" and event["seq"] == file["seq"]
            assert event["file"]["id"] == file["id"] and event["file"]["url"].startswith(
                f"/attachments/{visitor.chat}/"
            )
            # The same upload again (a retry): the same file, nothing stored twice.
            status, again, _ = await upload(server, visitor.token, png(), "x.png", id="f1")
            assert status == 201 and again["id"] == file["id"]
            async with (
                aiohttp.ClientSession() as http,
                http.get(server.url + event["file"]["url"]) as response,
            ):
                assert response.status == 200 and await response.read() == png()
                assert response.headers["Content-Type"] == "image/png"
                assert response.headers["Content-Disposition"].startswith("attachment;")
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                assert "sandbox" in response.headers["Content-Security-Policy"]
        files = list((data_dir / "attachments").rglob("*"))
        assert len([f for f in files if f.is_file()]) == 1


async def test_types_are_judged_by_content_and_limits_hold(data_dir: Path) -> None:
    async with (
        running(make_config(data_dir, {"sites": SITES})) as server,
        Visitor.connected(server, site="acme") as v,
    ):
        await v.start()
        status, error, _ = await upload(
            server, v.token, b"<html><script>alert(1)</script></html>\x00", "cat.png"
        )
        assert (status, error["error"]) == (400, "type_not_allowed")
        status, error, _ = await upload(server, v.token, b"%PDF-1.4\n" + b"x" * 5000, "big.pdf")
        assert (status, error["error"]) == (413, "too_large")
        status, file, _ = await upload(server, v.token, "Grüße, plain text\n".encode(), "notes.exe")
        assert status == 201 and (file["type"], file["name"]) == ("text/plain", "notes.txt")
        for n in range(2):
            assert (await upload(server, v.token, png(), f"p{n}.png"))[0] == 201
        status, error, _ = await upload(server, v.token, png(), "one too many.png")
        assert (status, error["error"]) == (400, "too_many_files")
        files = [f for f in (data_dir / "attachments").rglob("*") if f.is_file()]
        assert len(files) == 3  # refused files left nothing behind


async def test_who_may_upload_and_download(data_dir: Path) -> None:
    async with (
        running(make_config(data_dir, {"sites": SITES})) as server,
        Visitor.connected(server, site="acme") as acme,
        Visitor.connected(server, site="other") as other,
    ):
        await acme.start()
        await other.start()
        assert (await upload(server, None, png()))[0] == 401
        assert (await upload(server, "forged.token.value", png()))[0] == 401
        assert (await upload(server, other.token, png()))[0] == 401  # another site's token
        status, _, headers = await upload(server, acme.token, png(), origin="https://evil.example")
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
        async with aiohttp.ClientSession() as http:
            async with http.options(
                f"{server.url}/attachments/acme",
                headers={"Origin": HOST_ORIGIN, "Access-Control-Request-Method": "POST"},
            ) as response:
                assert (
                    response.status == 204
                    and response.headers["Access-Control-Allow-Headers"] == "Authorization"
                )
            _, file, _ = await upload(server, acme.token, png())
            event = await acme.expect("event", kind="attachment")
            url = event["file"]["url"]
            unsigned = url.split("?")[0]
            for bad in [
                unsigned,
                unsigned + "?k=tampered",
                url.replace(acme.chat or "", other.chat or ""),
            ]:
                async with http.get(server.url + bad) as response:
                    assert response.status == 404, bad
            async with http.get(f"{server.url}/agent/attachments/{acme.chat}/{file['id']}") as response:
                assert response.status == 403  # agents' links need an agent's session


async def test_agents_see_files_and_send_their_own(data_dir: Path) -> None:
    async with (
        running(make_config(data_dir, {"sites": SITES})) as server,
        Agent.connected(server) as agent,
        Visitor.connected(server, site="acme") as visitor,
    ):
        await visitor.start()
        chat = visitor.chat or ""
        _, file, _ = await upload(server, visitor.token, png())
        seen = await agent.expect("event", kind="attachment", chat=chat)
        assert seen["file"]["url"] == f"/agent/attachments/{chat}/{file['id']}"
        async with agent.http.get(server.url + seen["file"]["url"]) as response:
            assert response.status == 200 and await response.read() == png()
        form = aiohttp.FormData()
        form.add_field("file", b"%PDF-1.4\n%%EOF\n", filename="invoice.pdf")
        page = await (await agent.http.get(f"{server.url}/agent")).text()
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        url = f"{server.url}/agent/attachments/{chat}"
        async with agent.http.post(url, data=form, headers={"X-CSRF-Token": csrf}) as response:
            assert response.status == 403  # not the agent's chat yet
        await agent.accept(chat)
        async with agent.http.post(url, data=form, headers={"X-CSRF-Token": "wrong"}) as response:
            assert response.status == 403
        async with agent.http.post(url, data=form, headers={"X-CSRF-Token": csrf}) as response:
            assert response.status == 201, await response.text()
        sent = await visitor.expect("event", kind="attachment", **{"from": "agent"})
        assert sent["file"]["name"] == "invoice.pdf" and sent["name"] == "Admin"
        async with (
            aiohttp.ClientSession() as http,
            http.get(server.url + sent["file"]["url"]) as response,
        ):
            assert await response.read() == b"%PDF-1.4\n%%EOF\n"


async def test_an_ended_chat_takes_no_files_and_keeps_none(data_dir: Path) -> None:
    async with (
        running(make_config(data_dir, {"sites": SITES})) as server,
        Visitor.connected(server, site="acme") as v,
    ):
        await v.start()
        await v.send({"type": "end"})
        await v.expect("event", kind="state", state="ended")
        status, error, _ = await upload(server, v.token, png())
        assert (status, error["error"]) == (409, "chat_ended")
        assert not [f for f in (data_dir / "attachments").rglob("*") if f.is_file()]


async def test_a_backend_without_files_hides_and_refuses_them(data_dir: Path) -> None:
    site = {
        "name": "G",
        "allowed_origins": [HOST_ORIGIN],
        "backend": "gws",
        "gws": {"base_url": "http://127.0.0.1:9", "contact_center_id": "x"},
    }
    async with (
        running(make_config(data_dir, {"sites": {"g": site}})) as server,
        Visitor.connected(server, site="g") as v,
    ):
        assert v.hello["capabilities"] == []
        token = server.runtime.tokens.issue("g", "any-chat")
        status, error, _ = await upload(server, token, png(), site="g")
        assert (status, error["error"]) == (403, "unsupported")


@pytest.mark.parametrize(
    ("given", "content_type", "expected"),
    [
        ("../../etc/passwd", "text/plain", "passwd.txt"),
        ("C:\\Users\\kim\\report.pdf", "application/pdf", "report.pdf"),
        ("say %22hi%22.png", "image/png", "say hi.png"),
        ("line%0D%0Abreak.png", "image/png", "linebreak.png"),
        ("évènement.jpeg", "image/jpeg", "évènement.jpg"),
        ("...", "image/png", "file.png"),
        (None, "application/pdf", "file.pdf"),
        ("x" * 300 + ".png", "image/png", "x" * 90 + ".png"),
        ("invoice.pdf.exe", "application/pdf", "invoice.pdf.pdf"),
    ],
)
def test_file_names_are_made_safe(given: str | None, content_type: str, expected: str) -> None:
    assert safe_name(given, content_type) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (png(), "image/png"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 20, "image/jpeg"),
        ("plain text, ünïcode\n".encode(), "text/plain"),
        (b"text with a \x00 NUL", None),
        (b"\xc3\x28 not utf-8", None),
        (b"MZ\x90\x00\x03", "application/x-msdownload"),
    ],
)
def test_types_come_from_the_content(data: bytes, expected: str | None) -> None:
    assert sniff(data) == expected


async def test_uploads_at_once_cannot_pass_the_limit(data_dir: Path) -> None:
    """The limit is counted by the store as it appends: twenty uploads racing on one chat, three stored."""
    async with (
        running(make_config(data_dir, {"sites": SITES})) as server,
        Visitor.connected(server, site="acme") as v,
    ):
        await v.start()
        answers = await asyncio.gather(*(upload(server, v.token, png(n + 1), f"p{n}.png") for n in range(20)))
        statuses = sorted(status for status, _, _ in answers)
        assert statuses == [201] * 3 + [400] * 17
        assert {body["error"] for status, body, _ in answers if status == 400} == {"too_many_files"}
        files = [f for f in (data_dir / "attachments").rglob("*") if f.is_file()]
        assert len(files) == 3  # the refused ones left nothing behind
        events = await server.runtime.store.events_after(v.chat, 0)
        assert sum(1 for event in events if event.kind == "attachment") == 3


class _TwoHoursAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 2 * 3600


async def test_a_download_link_lives_an_hour(data_dir: Path) -> None:
    async with (
        running(make_config(data_dir, {"sites": SITES})) as server,
        Visitor.connected(server, site="acme") as v,
    ):
        await v.start()
        status, file, _ = await upload(server, v.token, png())
        assert status == 201
        path = f"/attachments/{v.chat}/{file['id']}"
        old = URLSafeTimedSerializer(server.runtime.secret_key, salt=LINK_SALT, signer=_TwoHoursAgo)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.url}{path}?k={old.dumps([v.chat, file['id']])}") as response:
                assert response.status == 404
            fresh = (await v.expect("event", kind="attachment"))["file"]["url"]
            async with http.get(server.url + fresh) as response:
                assert response.status == 200


async def test_deleting_a_chat_deletes_its_files_and_links(data_dir: Path) -> None:
    async with running(make_config(data_dir, {"sites": SITES})) as server:
        async with Visitor.connected(server, site="acme") as v:
            await v.start()
            assert (await upload(server, v.token, png()))[0] == 201
            link = (await v.expect("event", kind="attachment"))["file"]["url"]
        _, secret = await server.app.state.site_admin.create_token(Actor("test", "cli"), "tests")
        async with aiohttp.ClientSession() as http:
            async with http.get(server.url + link) as response:
                assert response.status == 200
            async with http.delete(
                f"{server.url}/api/v2/chat/chats/{v.chat}", headers={"Authorization": f"Bearer {secret}"}
            ) as response:
                assert response.status == 204
            async with http.get(server.url + link) as response:
                assert response.status == 404
        assert [f for f in (data_dir / "attachments").rglob("*") if f.is_file()] == []


@pytest.mark.parametrize(
    ("content_type", "problem"),
    [
        ("text/html", "can run code"),
        ("image/svg+xml", "can run code"),
        ("application/x-msdownload", "can run code"),
        ("image/x-made-up", "not a type widget_server recognises"),
    ],
)
def test_a_site_cannot_accept_types_unsafe_to_serve(data_dir: Path, content_type: str, problem: str) -> None:
    sites = {"acme": {**SITES["acme"], "attachments": {"types": ["image/png", content_type]}}}
    with pytest.raises(ConfigError, match=problem):
        make_config(data_dir, {"sites": sites})
