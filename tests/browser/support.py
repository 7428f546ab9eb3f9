"""What the browser tests drive: someone else's website that embeds the widget, the widget on it, and the
agent console, each as a small page object over Playwright locators; the servers behind them (`Stack`) and
the watched browser contexts (`Browsing`).

The website is a Starlette app on its own origin (http://127.0.0.1:PORT_A) whose pages carry the snippet a
website owner pastes, pointing at the widget server under another name (http://localhost:PORT_B): the
widget's socket then carries the website's Origin, as in production. Playwright's CSS, text and role
locators pierce open shadow roots, so the widget is found like any other part of the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    FilePayload,
    Locator,
    Page,
    expect,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.support.asgi_server import serve
from tests.support.clients import Agent, Server, make_config, running
from widget_server.config import Config

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SITE = "shop"
WIDGET_TAG = "widget-server-chat"

# Styles a careless theme could ship: every element, every button, input and div restyled with
# !important. None of it may reach inside the widget, and the widget must look exactly the same. (What
# no embedded element can escape is left out: opacity, filter or transform on <html> or <body> apply to
# everything drawn inside them.)
HOSTILE_CSS = """
* { box-sizing: content-box !important; margin: 4px !important; padding: 6px !important;
    font: italic 700 21px/2.6 "Courier New", monospace !important; color: #b00020 !important;
    letter-spacing: 2px !important; word-spacing: 8px !important; text-transform: uppercase !important;
    text-align: right !important; text-shadow: 1px 1px 0 #0f0 !important; direction: rtl !important;
    cursor: crosshair !important; visibility: visible !important;
    border-radius: 0 !important; outline: 3px dotted #f0f !important; transition: all 3s linear !important;
    z-index: 1 !important; width: auto; max-width: 95% !important; }
html, body { background: #fffbcc !important; }
div { position: relative !important; display: block !important; float: left !important; width: 90% !important;
      min-height: 40px !important; border: 4px dashed #6a0dad !important; background: #e0ffe0 !important;
      overflow: visible !important; opacity: .97 !important; }
button { all: unset; display: inline-block !important; width: 260px !important; height: 70px !important;
         background: #000 !important; color: #0f0 !important; border: 5px ridge gold !important;
         font-size: 30px !important; transform: skew(-8deg) !important; }
input, textarea { display: block !important; width: 80px !important; height: 90px !important;
                  border: 6px double red !important; background: #0ff !important; color: #00f !important;
                  font-size: 9px !important; appearance: none !important; }
svg, path { display: none !important; fill: red !important; stroke: red !important; }
[hidden] { display: block !important; }
p, span, label, h2, header, form { display: block !important; float: right !important;
                                   border: 2px solid orange !important; }
"""

PAGE = """<!doctype html>
<html{lang}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Nordic Outdoor</title>
<link rel="icon" href="data:,">
<style>
body {{ margin: 0; font: 16px/1.5 Georgia, serif; color: #222; background: #fafaf7; }}
header {{ display: flex; gap: 24px; align-items: center; padding: 16px 32px; background: #1f3b2d;
          color: #fff; }}
header a {{ color: #fff; }}
main {{ max-width: 880px; margin: 32px auto; padding: 0 24px; }}
.card {{ display: flex; flex-wrap: wrap; gap: 24px; padding: 24px; background: #fff; border: 1px solid #ddd;
         border-radius: 8px; }}
.photo {{ width: 220px; height: 160px; background: linear-gradient(135deg, #9bc49b, #2f6f4f);
          border-radius: 6px; }}
.buy {{ padding: 10px 18px; background: #c2410c; color: #fff; border: 0; border-radius: 4px;
        font-size: 16px; }}
footer {{ padding: 24px 32px; color: #666; }}
</style>
{hostile}
</head>
<body>
<header><strong>Nordic Outdoor</strong>
<nav><a href="/">Home</a> <a href="/tents">Tents</a> <a href="/help">Help</a></nav></header>
<main>
<h1>{title}</h1>
<div class="card">
  <div class="photo" role="img" aria-label="A green tent on a hill"></div>
  <div>
    <p>A two-person tent for three seasons, 1.9 kg packed.</p>
    <p class="price">€ 349</p>
    <label>Quantity <input id="qty" type="number" value="1" min="1"></label>
    <button class="buy" type="button">Add to cart</button>
  </div>
</div>
<p>Questions about sizes or delivery? Our team answers in the chat.</p>
</main>
<footer>© Nordic Outdoor</footer>
{snippet}
</body>
</html>
"""


# What a careful website owner allows: scripts only by nonce (so the widget's second script needs the
# page's nonce too), connections only to the chat host (its websocket and its file uploads), nothing else.
STRICT_CSP = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "connect-src {widget} {socket}; base-uri 'none'; object-src 'none'"
)


class HostSite:
    """A customer's website: any path is a product page with the widget's snippet.

    Query parameters: ``hostile=1`` adds HOSTILE_CSS, ``widget=0`` leaves the snippet out (a test adds
    it later), ``csp=1`` serves the page under a strict Content-Security-Policy (`STRICT_CSP`) with a nonce
    on the snippet, ``lang=de`` is the page's language (``lang=`` none; English without it) and
    ``locale=de`` the snippet's ``data-locale``. The widget server's origin is set once that server runs:
    its configuration needs this site's origin first.
    """

    def __init__(self) -> None:
        self.widget_origin = ""
        self.app = Starlette(routes=[Route("/{path:path}", self.page)])

    def snippet(self, nonce: str = "", locale: str = "") -> str:
        attribute = f' nonce="{nonce}"' if nonce else ""
        if locale:
            attribute += f' data-locale="{html.escape(locale)}"'
        src = html.escape(self.widget_origin)
        return f'<script src="{src}/widget.js" data-site="{SITE}"{attribute} async></script>'

    async def page(self, request: Request) -> HTMLResponse:
        params = request.query_params
        title = request.path_params["path"].strip("/").replace("-", " ").capitalize() or "Trail Tent 2"
        strict = params.get("csp") == "1"
        nonce = secrets.token_urlsafe(16) if strict else ""
        socket_origin = re.sub(r"^http", "ws", self.widget_origin)
        lang = params.get("lang", "en")
        return HTMLResponse(
            PAGE.format(
                lang=f' lang="{html.escape(lang)}"' if lang else "",
                title=html.escape(title),
                hostile=f"<style>{HOSTILE_CSS}</style>" if params.get("hostile") == "1" else "",
                snippet=self.snippet(nonce, params.get("locale", "")) if params.get("widget") != "0" else "",
            ),
            headers={
                "Content-Security-Policy": STRICT_CSP.format(
                    nonce=nonce, widget=self.widget_origin, socket=socket_origin
                )
            }
            if strict
            else None,
        )


async def shot(page: Page, name: str) -> Path:
    """A screenshot of the whole viewport, kept as a test artifact (animations finished, caret hidden)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), animations="disabled")
    return path


# The transcript as the visitor reads it: ("me" | "agent" | "sys", text), times left out.
TRANSCRIPT_JS = """host => [...host.shadowRoot.querySelectorAll('.log > *')].map(el =>
  el.classList.contains('msg')
    ? [el.classList.contains('me') ? 'me' : 'agent', el.querySelector('.bubble').textContent]
    : ['sys', el.firstChild.textContent])"""


class Widget:
    """The widget on a host page."""

    def __init__(self, page: Page, widget_origin: str) -> None:
        self.page = page
        self.widget_origin = widget_origin
        self.host = page.locator(WIDGET_TAG)
        self.launcher = self.host.locator("button.launcher")
        self.window = self.host.locator(".win")
        self.status = self.host.locator(".head .status")
        self.name = self.host.get_by_label("Name", exact=True)
        self.email = self.host.get_by_label("Email")
        self.subject = self.host.get_by_label("Subject")
        self.start_button = self.host.get_by_role("button", name="Start chat")
        self.box = self.host.get_by_label("Message", exact=True)
        self.send_button = self.host.get_by_role("button", name="Send message")
        self.minimize = self.host.get_by_role("button", name="Minimize chat")
        self.typing = self.host.locator(".typing")
        self.badge = self.host.locator(".badge")
        self.agent_bubbles = self.host.locator(".log .msg.agent .bubble")
        self.my_bubbles = self.host.locator(".log .msg.me .bubble")
        self.new_chat_button = self.host.get_by_role("button", name="Start a new chat")
        self.attach_button = self.host.get_by_role("button", name="Attach a file")
        self.files = self.host.locator(".log .msg a.file")  # file bubbles, both directions
        self.notice = self.host.locator(".notice")

    async def open(self) -> None:
        await self.launcher.click()
        await self.opened()

    async def opened(self) -> None:
        """The window is shown and its opening transition is over."""
        await expect(self.window).to_be_visible()
        await self.window.evaluate("el => Promise.all(el.getAnimations().map(a => a.finished))")

    async def start(self, name: str, subject: str = "", email: str = "") -> None:
        # With no agent online the widget opens on the offline form; a chat can still be started.
        # (The launcher shows only once the widget knows which form it opens: no race here.)
        anyway = self.host.get_by_role("button", name="Start a chat anyway")
        if await anyway.is_visible():
            await anyway.click()
        await self.name.fill(name)
        if email:
            await self.email.fill(email)
        if subject:
            await self.subject.fill(subject)
        await self.start_button.click()
        await expect(self.status).to_contain_text("Waiting for an agent")

    async def say(self, text: str) -> Locator:
        """Send a message; return it once the server has stored it."""
        await self.box.fill(text)
        await self.box.press("Enter")
        return await self.stored(text)

    async def stored(self, text: str) -> Locator:
        message = self.host.locator(".log .msg.me").filter(has=self.page.locator(".bubble", has_text=text))
        await expect(message).to_have_count(1)
        await expect(message).not_to_have_class(re.compile(r"\bpending\b"))
        return message

    async def transcript(self) -> list[list[str]]:
        result: list[list[str]] = await self.host.evaluate(TRANSCRIPT_JS)
        return result

    async def stored_chat(self) -> dict[str, Any]:
        """The widget's record of its chat in localStorage (chat id, token, last seq)."""
        key = f"widget_server:{self.widget_origin}:{SITE}"
        raw = await self.page.evaluate("key => localStorage.getItem(key)", key)
        assert raw, "the widget keeps no chat"
        record: dict[str, Any] = json.loads(raw)
        return record

    async def chat_id(self) -> str:
        chat: str = (await self.stored_chat())["chat"]
        return chat


async def accepted_chat(widget: Widget, agent: Agent, name: str) -> str:
    """The visitor opens the widget and starts a chat; the agent (a websocket client) accepts it."""
    await widget.open()
    await widget.start(name)
    chat = await widget.chat_id()
    await agent.accept(chat)
    await expect(widget.status).to_have_text("Chatting with Admin")
    return chat


class Console:
    """The agent console, logged in through its real login form."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.connection = page.locator("#connection")
        self.queue = page.locator("#queue")
        self.reply_box = page.get_by_label("Reply", exact=True)
        self.transcript = page.locator("#chat .transcript")
        self.attach_button = page.get_by_role("button", name="Attach a file")
        self.files = self.transcript.locator(".msg a.file")
        self.notice = page.locator("#chat .notice")

    @classmethod
    async def log_in(cls, page: Page, widget_origin: str, password: str) -> Console:
        await page.goto(f"{widget_origin}/agent")
        await expect(page).to_have_url(re.compile(r"/agent/login"))
        await page.get_by_label("Name", exact=True).fill("admin")
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(f"{widget_origin}/agent")
        console = cls(page)
        await expect(console.connection).to_have_text("Connected")
        return console

    def waiting(self, visitor: str) -> Locator:
        return self.queue.locator(".chat-item", has_text=visitor)

    async def accept(self, visitor: str) -> None:
        await self.waiting(visitor).click()
        await self.page.get_by_role("button", name="Accept", exact=True).click()
        await expect(self.reply_box).to_be_enabled()

    async def send(self, text: str) -> None:
        await self.reply_box.fill(text)
        await self.reply_box.press("Enter")
        await expect(self.transcript.locator(".msg.agent .bubble", has_text=text)).to_have_count(1)

    async def end_chat(self) -> None:
        await self.page.get_by_role("button", name="End chat").click()
        await self.page.get_by_role("button", name="Click again to end").click()
        await expect(self.transcript.locator(".sys", has_text="Chat ended")).to_be_visible()


async def attach(page: Page, button: Locator, name: str, data: bytes, mime_type: str) -> None:
    """Choose a file the way a person does: click the attach button, pick the file in the chooser."""
    async with page.expect_file_chooser() as chosen:
        await button.click()
    await (await chosen.value).set_files(FilePayload(name=name, mimeType=mime_type, buffer=data))


async def download(page: Page, link: Locator) -> tuple[str, bytes]:
    """Click a file link; the suggested file name and the bytes. (A link to another origin opens a tab that
    downloads; that tab is closed again.)"""
    before = set(page.context.pages)
    async with page.expect_download() as downloading:
        await link.click()
    file = await downloading.value
    data = await asyncio.to_thread(Path(await file.path()).read_bytes)
    for opened in set(page.context.pages) - before:
        await opened.close()
    return file.suggested_filename, data


class Stack:
    """A host website on http://127.0.0.1:A and the widget server on http://localhost:B, whose site
    `shop` allows exactly the website's origin."""

    def __init__(self, site: HostSite, host: str, config: Config) -> None:
        self.site = site
        self.host = host
        self.config = config
        self._server: contextlib.AbstractAsyncContextManager[Server] | None = None
        self.server: Server

    @property
    def widget(self) -> str:
        # Served on 127.0.0.1, addressed by another name: a different origin from the website's.
        return f"http://localhost:{self.server.port}"

    async def start(self, port: int = 0) -> None:
        self._server = running(self.config, port=port)
        self.server = await self._server.__aenter__()
        self.site.widget_origin = self.widget

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.__aexit__(None, None, None)

    @contextlib.asynccontextmanager
    async def server_down(self) -> AsyncIterator[None]:
        """The widget server stopped for the body, then started again on the same port and data."""
        port = self.server.port
        await self.stop()
        try:
            yield
        finally:
            await self.start(port)


@contextlib.asynccontextmanager
async def serving_stack(
    data_dir: Path, deployment: dict[str, Any] | None = None, **site: Any
) -> AsyncIterator[Stack]:
    """The `stack` fixture's stack, with more settings for the site `shop` (its `hours`, say) and for the
    deployment (``deployment``: its `teams`, say)."""
    host_site = HostSite()
    async with serve(host_site.app) as host:
        settings = {"name": "Nordic Outdoor", "allowed_origins": [host], "backend": "local", **site}
        mapping = {**(deployment or {}), "sites": {SITE: settings}}
        stack = Stack(host_site, host, make_config(data_dir, mapping))
        await stack.start()
        try:
            yield stack
        finally:
            await stack.stop()


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}"


class Browsing:
    """The test's browser contexts and what their pages did."""

    def __init__(self, browser: Browser, stack: Stack) -> None:
        self.browser = browser
        self.stack = stack
        self.contexts: list[BrowserContext] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []  # every URL a page fetched or opened a websocket to
        self.expected_errors: list[re.Pattern[str]] = []
        self.extra_origins: set[str] = set()

    async def context(self, **options: Any) -> BrowserContext:
        context = await self.browser.new_context(**options)
        context.set_default_timeout(10_000)  # actions, like `expect`: fail in seconds, not in half a minute
        self.contexts.append(context)
        context.on("console", self._on_console)
        context.on("weberror", lambda error: self.page_errors.append(str(error.error)))
        context.on("dialog", self._on_dialog)
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("page", self._watch_page)
        return context

    def _watch_page(self, page: Page) -> None:
        page.on("websocket", lambda ws: self.requests.append(ws.url))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    async def visitor(self, path: str = "/", context: BrowserContext | None = None, **options: Any) -> Widget:
        """A page of the host website with the widget on it, in a new context unless one is given."""
        context = context or await self.context(**options)
        page = await context.new_page()
        await page.goto(self.stack.host + path)
        return Widget(page, self.stack.widget)

    async def console(self) -> Console:
        """The agent console in a context of its own, logged in as the default admin."""
        page = await (await self.context()).new_page()
        return await Console.log_in(page, self.stack.widget, self.stack.server.admin_password())

    def expect_console_error(self, pattern: str) -> None:
        self.expected_errors.append(re.compile(pattern))

    def allow_origin(self, origin: str) -> None:
        self.extra_origins.add(origin)

    def problems(self) -> list[str]:
        allowed = {self.stack.host, self.stack.widget, *self.extra_origins}
        found = [f"console error: {text}" for text in self.console_errors if not self._expected(text)]
        found += [f"page error: {text}" for text in self.page_errors]
        found += [f"dialog: {text}" for text in self.dialogs]
        found += [
            f"request outside the test origins: {url}"
            for url in self.requests
            if not url.startswith("data:") and origin_of(url) not in allowed
        ]
        return found

    def _expected(self, text: str) -> bool:
        return any(pattern.search(text) for pattern in self.expected_errors)

    async def close(self) -> None:
        await asyncio.gather(*(context.close() for context in self.contexts))
