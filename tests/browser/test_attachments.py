"""Files in the browser (issue 7, item 9): the visitor attaches a picture in the widget and the agent a PDF in
the console, each sees the other's file and can download it; a refused file shows the server's reason and
leaves nothing behind; a site whose contact center takes no files shows no attach button (and the widget
does not even load widget-files.js); the button is reached and named by keyboard; and all of it works on a
host page with a strict Content-Security-Policy."""

from __future__ import annotations

import asyncio
import json
import math
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Route, expect

from tests.browser.support import (
    SITE,
    Browsing,
    Stack,
    Widget,
    attach,
    download,
    serving_stack,
    shot,
)
from tests.fakes.gws import FakeGWS
from tests.support.asgi_server import serve

pytestmark = pytest.mark.asyncio(loop_scope="session")

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PROGRAM = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(240)  # a Windows .exe


def png(width: int = 96, height: int = 64) -> bytes:
    """A small picture (a green-to-blue gradient), a real PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((40, 120 + x, 90 + y * 2)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def size(data: bytes) -> str:
    """The size as the widget shows it."""
    return f"{math.ceil(len(data) / 1024)} KB"


def stored_files(stack: Stack) -> list[Path]:
    root = stack.config.data_dir / "attachments"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The browser suite's stack; parametrised indirectly with "gws", the site is on a (fake) Genesys
    contact center, whose customer API takes no files."""
    if getattr(request, "param", "local") == "local":
        async with serving_stack(data_dir) as stack:
            yield stack
        return
    gws = FakeGWS()
    async with serve(gws.app) as url:
        settings = {"base_url": url, "contact_center_id": gws.contact_center_id}
        async with serving_stack(data_dir, backend="gws", gws=settings) as stack:
            yield stack


async def test_the_visitor_sends_a_picture_and_the_agent_a_pdf(browsing: Browsing, stack: Stack) -> None:
    picture = png()
    widget = await browsing.visitor("/")
    console = await browsing.console()
    await widget.open()
    await widget.start("Ines", subject="Tent pole")
    await console.accept("Ines")
    await expect(widget.status).to_have_text("Chatting with Admin")

    # The visitor attaches a picture: "Uploading…" at once (the upload is held back a moment here), then
    # the file bubble with name and size.
    release = asyncio.Event()

    async def held(route: Route) -> None:
        await release.wait()
        await route.continue_()

    await widget.page.route(f"{stack.widget}/attachments/{SITE}", held)
    await expect(widget.attach_button).to_be_visible()
    await attach(widget.page, widget.attach_button, "broken pole.png", picture, "image/png")
    uploading = widget.host.locator(".log .sys.pending")
    await expect(uploading).to_have_text("Uploading broken pole.png…")
    await shot(widget.page, "50-widget-uploading")
    release.set()
    mine = widget.host.locator(".log .msg.me a.file")
    await expect(mine).to_have_text(f"broken pole.png {size(picture)}")
    await expect(uploading).to_have_count(0)
    await widget.page.unroute(f"{stack.widget}/attachments/{SITE}")
    await expect(mine).to_have_attribute("target", "_blank")
    await expect(mine).to_have_attribute("rel", "noopener noreferrer")
    await expect(mine).to_have_attribute("download", "broken pole.png")
    assert await download(widget.page, mine) == ("broken pole.png", picture)

    # The agent sees it in the transcript, as a thumbnail too, and downloads the same bytes.
    theirs = console.transcript.locator(".msg.visitor a.file")
    await expect(theirs).to_contain_text("broken pole.png")
    await expect(theirs).to_contain_text("PNG image")
    thumbnail = theirs.locator("img.file-thumb")
    await expect(thumbnail).to_be_visible()
    await expect(thumbnail).to_have_js_property("naturalWidth", 96)  # the picture itself, loaded
    assert await download(console.page, theirs) == ("broken pole.png", picture)

    # The agent answers with a PDF from the console.
    await expect(console.attach_button).to_be_visible()
    await attach(console.page, console.attach_button, "Price list 2026.pdf", PDF, "application/pdf")
    sent = console.transcript.locator(".msg.agent a.file")
    await expect(sent).to_contain_text("Price list 2026.pdf")
    await expect(console.transcript.locator(".pending-item")).to_have_count(0)
    await expect(console.transcript.locator(".msg.agent .msg-name").last).to_have_text("You")

    # The visitor gets it as the agent's file, and downloads it.
    received = widget.host.locator(".log .msg.agent a.file")
    await expect(received).to_contain_text("Price list 2026.pdf")
    assert await download(widget.page, received) == ("Price list 2026.pdf", PDF)
    assert await widget.transcript() == [
        ["sys", "Chat started"],
        ["sys", "Admin joined the chat"],
        ["me", f"broken pole.png {size(picture)}"],
        ["agent", f"Price list 2026.pdf {size(PDF)}"],
    ]
    assert len(stored_files(stack)) == 2
    await shot(widget.page, "51-widget-file-bubbles")
    await shot(console.page, "52-console-file-bubbles")

    # After a reload the files come back with the rest (with fresh links); once the chat has ended no
    # more files can be attached, on either side.
    await widget.page.reload()
    await expect(widget.files).to_have_count(2)
    assert await download(widget.page, widget.files.last) == ("Price list 2026.pdf", PDF)
    await expect(widget.attach_button).to_be_visible()
    await console.end_chat()
    await expect(widget.new_chat_button).to_be_visible()
    await expect(widget.attach_button).to_be_hidden()
    await expect(console.attach_button).to_be_hidden()
    await expect(widget.files).to_have_count(2)


async def test_a_file_of_a_refused_type_shows_the_servers_reason_and_stores_nothing(
    browsing: Browsing, stack: Stack
) -> None:
    # Chrome logs every HTTP error answer to fetch() on the console.
    browsing.expect_console_error(r"status of (400|413) ")
    widget = await browsing.visitor("/")
    await widget.open()
    await widget.start("Noah")
    await widget.say("Here is the invoice")
    # A program named like a picture: the server looks at the content, not at the name.
    await attach(widget.page, widget.attach_button, "invoice.png", PROGRAM, "image/png")
    await expect(widget.notice).to_have_text("This type of file is not accepted here.")
    await shot(widget.page, "53-widget-file-refused")
    await expect(widget.host.locator(".log .sys.pending")).to_have_count(0)
    # Over the site's size limit (2 MB by default).
    too_big = PDF + b"0" * (2 * 1024 * 1024)
    await attach(widget.page, widget.attach_button, "manual.pdf", too_big, "application/pdf")
    await expect(widget.notice).to_have_text("A file may be at most 2 MB.")
    await expect(widget.files).to_have_count(0)

    # Nothing reaches the agent, whose own refused file is explained in the chat's notice bar.
    console = await browsing.console()
    await console.accept("Noah")
    await expect(console.transcript.locator(".msg.visitor .bubble")).to_have_text(["Here is the invoice"])
    await attach(console.page, console.attach_button, "setup.png", PROGRAM, "image/png")
    await expect(console.notice).to_contain_text("This type of file is not accepted here.")
    await expect(console.transcript.locator(".pending-item")).to_have_count(0)
    await shot(console.page, "54-console-file-refused")
    await expect(console.files).to_have_count(0)
    await expect(widget.files).to_have_count(0)
    assert stored_files(stack) == []


@pytest.mark.parametrize("stack", ["gws"], indirect=True)
async def test_a_contact_center_that_takes_no_files_shows_no_attach_button(
    browsing: Browsing, stack: Stack
) -> None:
    page = await (await browsing.context()).new_page()
    frames: list[dict[str, Any]] = []
    page.on(
        "websocket", lambda socket: socket.on("framereceived", lambda data: frames.append(json.loads(data)))
    )
    await page.goto(stack.host + "/")
    widget = Widget(page, stack.widget)
    await widget.open()
    await widget.start("Olga")
    await widget.say("Do you take files?")
    hello = next(frame for frame in frames if frame["type"] == "hello")
    assert hello["capabilities"] == []
    await expect(widget.box).to_be_visible()
    await expect(widget.attach_button).to_have_count(0)
    assert [url for url in browsing.requests if "widget-files" in url] == []  # not even loaded


async def test_the_attach_button_is_reached_and_named_by_keyboard(browsing: Browsing, stack: Stack) -> None:
    widget = await browsing.visitor("/")
    # Playwright starts catching file choosers when the first listener comes, without waiting: one now, so
    # that a key press (quicker than a click) cannot open the chooser before it is caught.
    widget.page.on("filechooser", lambda _: None)
    await widget.open()
    await widget.start("Kim")
    await expect(widget.box).to_be_focused()
    await expect(widget.attach_button).to_be_visible()
    keyboard = widget.page.keyboard
    await keyboard.press("Shift+Tab")  # the button sits just before the message box
    await expect(widget.attach_button).to_be_focused()
    await expect(widget.attach_button).to_have_accessible_name("Attach a file")
    assert await widget.attach_button.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"
    async with widget.page.expect_file_chooser() as chosen:
        await keyboard.press("Enter")
    await (await chosen.value).set_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": "Größe: 2 Personen\n".encode()}
    )
    await expect(widget.files).to_contain_text("notes.txt")
    await keyboard.press("Tab")
    await expect(widget.box).to_be_focused()

    # In the console, Tab goes from the reply box to the attach button.
    console = await browsing.console()
    await console.accept("Kim")
    await console.reply_box.focus()
    await console.page.keyboard.press("Tab")
    await expect(console.attach_button).to_be_focused()
    await expect(console.attach_button).to_have_accessible_name("Attach a file")
    await expect(console.files).to_contain_text("notes.txt")


async def test_files_work_on_a_page_with_a_strict_content_security_policy(
    browsing: Browsing, stack: Stack
) -> None:
    # Scripts by nonce only, connections only to the chat host: the second script gets the page's nonce,
    # and the upload is a connection to the chat host like the websocket.
    widget = await browsing.visitor("/?csp=1")
    await widget.open()
    await widget.start("Ada")
    await attach(widget.page, widget.attach_button, "size chart.png", png(), "image/png")
    await expect(widget.files).to_have_text(f"size chart.png {size(png())}")
    assert await download(widget.page, widget.files) == ("size chart.png", png())
    # (A blocked script or connection would be a console error, which the `browsing` fixture refuses.)
