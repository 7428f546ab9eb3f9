"""The host page's JavaScript API in Chromium (docs/embedding.md, "JavaScript API"): `window.WidgetServer`,
queued before the script loads, every command, every event with its payload, and a page's mistakes (a
callback that throws, a bad call) that never break the widget nor throw into the page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, Page, expect

from tests.browser.support import Browsing, Stack, Widget
from tests.support.clients import Agent
from tests.support.contact_centers import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

# The snippet's optional first line (docs/embedding.md), then calls made before the widget's script has
# loaded, then the script tag, added the way a tag manager would.
BEFORE_LOAD_JS = """src => {
  window.WidgetServer=window.WidgetServer||function(){(WidgetServer.q=WidgetServer.q||[]).push(arguments)};
  window.seen = [];
  for (const name of ["ready", "open", "close", "message", "unread", "chat-ended"]) {
    WidgetServer("on", name, (data) => seen.push([name, data === undefined ? null : data]));
  }
  WidgetServer("on", "open", () => { throw new Error("a bug of the host page"); });
  WidgetServer("set", { name: "Chris", email: "chris@example.com", attributes: { plan: "pro", seats: 3 } });
  WidgetServer("locale", "de");
  WidgetServer("open");
  const script = document.createElement("script");
  script.src = src;
  script.dataset.site = "shop";
  script.async = true;
  document.body.append(script);
}"""

# Each a mistake a page could make; none may throw.
BAD_CALLS_JS = """() => {
  const calls = [["nope"], ["nope"], [], [null], ["on", "bogus", () => {}], ["on", "message"],
    ["off"], ["set", "Chris"], ["set", { attributes: { plan: { tier: 1 } } }], ["set", { name: 7 }],
    ["locale", "xx"], ["start", 5], ["toString"], ["__proto__"]];
  const thrown = [];
  for (const args of calls) {
    try { WidgetServer(...args); } catch (e) { thrown.push(String(e)); }
  }
  return thrown;
}"""


async def seen(page: Page, name: str, count: int = 1) -> list[Any]:
    """The payloads of the event so far, once it has fired `count` times."""
    js = "([name, count]) => seen.filter(e => e[0] === name).length >= count"
    await page.wait_for_function(js, arg=[name, count])
    payloads: list[Any] = await page.evaluate("name => seen.filter(e => e[0] === name).map(e => e[1])", name)
    return payloads


async def call(page: Page, *args: Any) -> None:
    await page.evaluate("args => WidgetServer(...args)", list(args))


async def test_the_host_page_drives_the_widget_and_hears_its_events(browsing: Browsing, stack: Stack) -> None:
    browsing.expect_console_error("a bug of the host page")  # reported, not thrown into the widget
    page = await (await browsing.context()).new_page()
    warnings: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "warning" and message.text.startswith("widget_server:"):
            warnings.append(message.text)

    page.on("console", on_console)
    await page.goto(f"{stack.host}/?widget=0")
    widget = Widget(page, stack.widget)
    async with Agent.connected(stack.server) as agent:
        await page.evaluate(BEFORE_LOAD_JS, f"{stack.widget}/widget.js")

        # What was queued took effect: open, in German, the form filled in; then `ready`.
        assert await seen(page, "ready") == [None]
        assert [e[0] for e in await page.evaluate("seen")][:2] == ["open", "ready"]
        await widget.opened()
        await expect(widget.host.locator(".root")).to_have_attribute("lang", "de")
        await expect(widget.host.get_by_role("button", name="Chat starten")).to_be_visible()
        await expect(widget.host.locator("#f-name")).to_have_value("Chris")
        await expect(widget.host.locator("#f-email")).to_have_value("chris@example.com")

        # A page's mistakes: nothing thrown, each said once in the console.
        assert await page.evaluate(BAD_CALLS_JS) == []
        await eventually(lambda: len(warnings) >= 9)
        assert sum('"nope"' in w for w in warnings) == 1, warnings
        for warning in warnings:
            assert re.match(
                r'widget_server: WidgetServer\((".+"|null|undefined)\) ignored: \w.{12,}', warning
            )
        said = 'WidgetServer("set") ignored: takes {name, email, subject, message: strings'
        assert sum(said in w for w in warnings) == 1  # three bad calls, one sentence

        # The window and the launcher.
        await call(page, "close")
        await expect(widget.window).to_be_hidden()
        await call(page, "toggle")
        await widget.opened()
        await call(page, "toggle")
        await expect(widget.window).to_be_hidden()
        assert await seen(page, "close", 2) == [None, None]
        await call(page, "hide")
        await expect(widget.launcher).to_be_hidden()
        await call(page, "open")  # a page's own button still opens it
        await widget.opened()
        await call(page, "show")
        await expect(widget.launcher).to_be_visible()
        await call(page, "locale", "en")
        await expect(widget.start_button).to_be_visible()

        # A chat started by the page: its details and first message reach the agent.
        await call(page, "start", {"subject": "Order 42", "message": "Where is my order?"})
        summary = (await agent.expect("chat"))["chat"]
        visitor = summary["visitor"]
        assert (visitor["nickname"], visitor["email"], visitor["subject"]) == (
            "Chris",
            "chris@example.com",
            "Order 42",
        )
        assert visitor["userData"] == {"plan": "pro", "seats": "3"}
        first = await agent.expect("event", kind="message")
        assert first["text"] == "Where is my order?"
        mine = (await seen(page, "message"))[0]
        assert mine == {**mine, "from": "visitor", "name": "Chris", "text": "Where is my order?"}
        assert mine["at"].endswith("Z")

        # The agent answers while the window is closed: a message and an unread count.
        chat = summary["id"]
        await call(page, "close")
        await agent.accept(chat)
        await agent.say(chat, "It ships today.", id="a1")
        reply = (await seen(page, "message", 2))[1]
        assert reply == {**reply, "from": "agent", "name": "Admin", "text": "It ships today."}
        assert await seen(page, "unread") == [1]
        await expect(widget.badge).to_be_visible()
        await call(page, "open")
        assert await seen(page, "unread", 2) == [1, 0]

        # Attributes changed during the chat reach the agent at once.
        await call(page, "set", {"attributes": {"plan": "team", "seats": None}})
        changed = await agent.expect("chat")
        assert changed["chat"]["visitor"]["userData"] == {"plan": "team"}

        # off(): that listener hears no more; the end is said once.
        await page.evaluate("""() => {
          window.late = [];
          const f = (m) => late.push(m);
          WidgetServer("on", "message", f);
          WidgetServer("off", "message", f);
        }""")
        await agent.send({"type": "end", "chat": chat})
        ended = await seen(page, "chat-ended")
        assert ended == [{"chat": chat, "at": ended[0]["at"]}]
        assert await page.evaluate("late") == []

    # The widget still works after the page's callback threw on every open.
    await expect(widget.new_chat_button).to_be_visible()


async def test_attributes_the_server_refuses_do_not_stop_the_chat(browsing: Browsing, stack: Stack) -> None:
    widget = await browsing.visitor("/")
    warnings: list[str] = []
    widget.page.on("console", lambda m: m.type == "warning" and warnings.append(m.text))
    await widget.page.wait_for_function("() => window.WidgetServer")  # the snippet's script has run
    async with Agent.connected(stack.server) as agent:
        # Right in type, wrong in length: the server's rules (docs/protocol.md, "Attributes").
        await call(widget.page, "set", {"attributes": {"plan": "p" * 1001}})
        await call(widget.page, "start", {"name": "Kim", "message": "Hello"})
        summary = (await agent.expect("chat"))["chat"]
        assert (summary["visitor"]["nickname"], summary["visitor"]["userData"]) == ("Kim", {})
        assert (await agent.expect("event", kind="message"))["text"] == "Hello"
    await expect(widget.notice).to_be_hidden()  # the page's mistake, not the visitor's
    assert [w for w in warnings if "'plan' may be at most 1000 characters" in w], warnings
