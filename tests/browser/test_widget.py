"""The widget where it lives: in Chromium, embedded by its script tag on a page of another origin, talking to
an agent in the real console (issue 5, part 1)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from playwright.async_api import BrowserContext, expect

from tests.browser.support import SITE, WIDGET_TAG, Browsing, Stack, Widget, accepted_chat, shot
from tests.support.asgi_server import serve
from tests.support.clients import Agent

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_visitor_chats_with_an_agent_in_the_console(browsing: Browsing) -> None:
    widget = await browsing.visitor("/trail-tent-2")
    await expect(widget.launcher).to_be_visible()
    await expect(widget.launcher).to_have_accessible_name("Open chat")
    await shot(widget.page, "01-host-page-launcher")

    await widget.open()
    await expect(widget.name).to_be_focused()
    await shot(widget.page, "02-pre-chat-form")
    await widget.start("Chris", subject="Delivery to Norway", email="chris@example.org")
    await widget.say("Do you ship to Norway?")
    await shot(widget.page, "03-visitor-waiting")

    console = await browsing.console()
    await expect(console.waiting("Chris")).to_contain_text("Delivery to Norway")
    await console.waiting("Chris").click()
    await expect(console.transcript.locator(".msg.visitor .bubble")).to_have_text(["Do you ship to Norway?"])
    await shot(console.page, "04-console-waiting-chat")
    await console.page.get_by_role("button", name="Accept", exact=True).click()
    await expect(console.reply_box).to_be_enabled()
    await expect(widget.status).to_have_text("Chatting with Admin")
    await expect(widget.host.locator(".log .sys", has_text="Admin joined the chat")).to_be_visible()

    # Keystrokes in the console reach the visitor as "is typing" before the reply itself.
    await console.reply_box.press_sequentially("Yes, we do")
    await expect(widget.typing).to_be_visible()
    await expect(widget.typing).to_have_text("Admin is typing…")
    await shot(widget.page, "05-agent-typing")
    await console.reply_box.press_sequentially(". Delivery takes 3 days.")
    await console.reply_box.press("Enter")

    await expect(widget.agent_bubbles).to_have_text(["Yes, we do. Delivery takes 3 days."])
    await expect(widget.typing).to_be_hidden()
    assert await widget.transcript() == [
        ["sys", "Chat started"],
        ["me", "Do you ship to Norway?"],
        ["sys", "Admin joined the chat"],
        ["agent", "Yes, we do. Delivery takes 3 days."],
    ]
    await shot(widget.page, "06-agent-reply")
    await expect(console.transcript.locator(".msg.agent .bubble")).to_have_text(
        ["Yes, we do. Delivery takes 3 days."]
    )
    await shot(console.page, "07-console-chat")


async def test_a_reload_brings_back_the_same_chat_whole_and_once(browsing: Browsing, stack: Stack) -> None:
    widget = await browsing.visitor("/")
    async with Agent.connected(stack.server) as agent:
        chat = await accepted_chat(widget, agent, "Robin")
        await widget.say("First question")
        await agent.say(chat, "First answer", id="a1")
        await widget.say("Second question")
        await agent.say(chat, "Second answer", id="a2")
        await expect(widget.agent_bubbles).to_have_text(["First answer", "Second answer"])
        before = await widget.transcript()

        await widget.page.reload()
        await expect(widget.window).to_be_visible()  # it was open: it stays open from page to page
        await expect(widget.agent_bubbles).to_have_text(["First answer", "Second answer"])
        await expect(widget.status).to_have_text("Chatting with Admin")
        # A replay that repeated anything would show it before a message that comes live afterwards.
        await agent.say(chat, "Still here after the reload", id="a3")
        await expect(widget.agent_bubbles.last).to_have_text("Still here after the reload")
        assert await widget.transcript() == [*before, ["agent", "Still here after the reload"]]
        assert await widget.chat_id() == chat
        await shot(widget.page, "08-after-reload")


async def test_a_second_tab_shows_the_same_chat_live(browsing: Browsing, stack: Stack) -> None:
    context = await browsing.context()
    first = await browsing.visitor("/", context)
    second = await browsing.visitor("/help", context)  # open before the chat starts
    await expect(second.launcher).to_be_visible()
    async with Agent.connected(stack.server) as agent:
        # Like a visitor switching tabs (a tab in the background gets no animation frames).
        await first.page.bring_to_front()
        chat = await accepted_chat(first, agent, "Sam")
        await second.page.bring_to_front()
        await second.open()
        await expect(second.status).to_have_text("Chatting with Admin")

        await first.page.bring_to_front()
        await first.say("Typed in the first tab")
        await expect(second.my_bubbles).to_have_text(["Typed in the first tab"])
        await second.page.bring_to_front()
        await second.say("Typed in the second tab")
        await expect(first.my_bubbles).to_have_text(["Typed in the first tab", "Typed in the second tab"])
        await agent.say(chat, "Both tabs see this", id="a1")
        await expect(first.agent_bubbles).to_have_text(["Both tabs see this"])
        await expect(second.agent_bubbles).to_have_text(["Both tabs see this"])
        assert await first.transcript() == await second.transcript()
        assert await second.chat_id() == chat
        await shot(second.page, "09-second-tab")


async def test_a_dropped_connection_reconnects_and_sends_what_was_typed_meanwhile_once(
    browsing: Browsing, stack: Stack
) -> None:
    # While the server is down, Chromium itself logs every refused connection attempt.
    browsing.expect_console_error(r"^WebSocket connection to 'ws://localhost:\d+/ws/shop' failed")
    widget = await browsing.visitor("/")
    await widget.open()
    await widget.start("Alex")
    await widget.say("Before the drop")
    chat = await widget.chat_id()

    async with stack.server_down():
        await expect(widget.status).to_have_text(re.compile("Reconnecting…|Offline"))
        await widget.box.fill("Typed while offline")
        await widget.box.press("Enter")
        pending = widget.host.locator(".log .msg.me.pending")
        await expect(pending.locator(".bubble")).to_have_text("Typed while offline")
        await shot(widget.page, "10-reconnecting")

    await expect(widget.status).to_contain_text("Waiting for an agent")
    await widget.stored("Typed while offline")
    texts = [
        event.data["text"]
        for event in await stack.server.runtime.store.events_after(chat, 0)
        if event.kind == "message"
    ]
    assert texts == ["Before the drop", "Typed while offline"]

    # And the chat goes on live over the new connection.
    async with Agent.connected(stack.server) as agent:
        await agent.accept(chat)
        await agent.say(chat, "Got both of them", id="a1")
    await expect(widget.agent_bubbles).to_have_text(["Got both of them"])
    await expect(widget.my_bubbles).to_have_text(["Before the drop", "Typed while offline"])
    await shot(widget.page, "11-reconnected")


# Records every websocket the page opens and how it closed (the widget constructs them as usual).
SOCKET_LOG = """
window.__sockets = [];
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    const record = { made: performance.now() };
    window.__sockets.push(record);
    this.addEventListener("close", (e) => Object.assign(record, { closed: performance.now(), code: e.code }));
  }
};
"""


async def test_a_restarting_server_is_left_alone_for_its_retry_window(
    browsing: Browsing, stack: Stack
) -> None:
    """A restart closes with 1012 and {"retry": [1000, 5000]}: the widget comes back within that window,
    not at once with every other visitor of the process (it retried after 250 to 500 ms)."""
    browsing.expect_console_error(r"^WebSocket connection to 'ws://localhost:\d+/ws/shop' failed")
    context = await browsing.context()
    await context.add_init_script(SOCKET_LOG)
    widget = await browsing.visitor("/", context=context)
    await widget.open()
    await widget.start("Alex")
    async with stack.server_down():
        await widget.page.wait_for_function("window.__sockets.length >= 2", timeout=10_000)
    sockets = await widget.page.evaluate("window.__sockets")
    assert sockets[0]["code"] == 1012
    waited = sockets[1]["made"] - sockets[0]["closed"]
    assert 1000 <= waited <= 5100, waited
    await expect(widget.status).to_contain_text("Waiting for an agent")  # and the chat goes on


async def test_on_a_page_of_an_origin_not_allowed_the_widget_stays_quiet(
    browsing: Browsing, stack: Stack, caplog_info: pytest.LogCaptureFixture
) -> None:
    # The one console error we expect: Chromium's report of the refused hello.
    browsing.expect_console_error(r"^Failed to load resource: the server responded with a status of 403")
    async with serve(stack.site.app) as foreign:  # the same pages on an origin `shop` does not allow
        browsing.allow_origin(foreign)
        page = await (await browsing.context()).new_page()
        async with page.expect_console_message(lambda message: "chat refused" in message.text) as refused:
            await page.goto(foreign + "/")
        assert (await refused.value).type == "info"
        widget = Widget(page, stack.widget)
        await expect(widget.host).to_have_count(1)  # the script ran...
        await expect(widget.host.locator(".root")).to_be_hidden()  # ...and shows nothing
        await expect(widget.launcher).to_be_hidden()
        assert any("403" in error for error in browsing.console_errors), browsing.console_errors
        await shot(page, "12-origin-not-allowed")
    assert f"refused widget hello: site='{SITE}' origin='{foreign}'" in caplog_info.text
    assert "rule=origin_not_allowed" in caplog_info.text
    assert "refused visitor websocket" not in caplog_info.text  # no socket was tried


# Everything that decides how an element looks and where it is, for the host element and every element
# in the shadow root.
WIDGET_LOOK_JS = """host => {
  const props = ['display', 'position', 'float', 'box-sizing', 'margin-top', 'margin-left', 'padding-top',
    'padding-left', 'border-top-width', 'border-top-style', 'border-top-color', 'border-top-left-radius',
    'font-family', 'font-size', 'font-weight', 'font-style', 'line-height', 'letter-spacing', 'word-spacing',
    'text-transform', 'text-align', 'text-shadow', 'direction', 'color', 'background-color', 'opacity',
    'visibility', 'cursor', 'outline-style', 'transform', 'transition-duration', 'z-index', 'fill', 'stroke'];
  return [host, ...host.shadowRoot.querySelectorAll('*')].map(el => {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return {
      element: el.localName + '.' + (el.getAttribute('class') || ''),
      box: [box.x, box.y, box.width, box.height].map(Math.round),
      style: Object.fromEntries(props.map(p => [p, style.getPropertyValue(p)])),
    };
  });
}"""


async def widget_look(widget: Widget) -> tuple[list[dict[str, Any]], bytes]:
    """The computed look of the open widget, and a picture of the inside of its window."""
    look: list[dict[str, Any]] = await widget.host.evaluate(WIDGET_LOOK_JS)
    box = await widget.window.bounding_box()
    assert box is not None
    # Inset: the rounded corners and the shadow let the page show through.
    clip = {"x": box["x"] + 20, "y": box["y"] + 20, "width": box["width"] - 40, "height": box["height"] - 40}
    picture = await widget.page.screenshot(clip=clip, animations="disabled")
    return look, picture


async def test_a_host_page_with_aggressive_css_does_not_change_the_widget(browsing: Browsing) -> None:
    plain = await browsing.visitor("/")
    await plain.open()
    await shot(plain.page, "13-plain-host-page")
    hostile = await browsing.visitor("/?hostile=1")
    await hostile.open()
    await shot(hostile.page, "14-hostile-host-page")
    # The hostile styles did apply to the page itself.
    assert (
        await hostile.page.locator("button.buy").evaluate("el => getComputedStyle(el).color")
        == "rgb(0, 255, 0)"
    )

    plain_look, plain_picture = await widget_look(plain)
    hostile_look, hostile_picture = await widget_look(hostile)
    differences = [
        (a["element"], name, a_value, b["style"][name])
        for a, b in zip(plain_look, hostile_look, strict=True)
        for name, a_value in a["style"].items()
        if b["style"][name] != a_value
    ]
    # `direction` is the one property `all: initial` leaves to the page; the widget sets its own inside.
    assert [d for d in differences if d[:2] != (f"{WIDGET_TAG}.", "direction")] == []
    assert [a["box"] for a in plain_look] == [b["box"] for b in hostile_look]
    # Pixel for pixel, but for antialiasing: on a loaded machine Chromium's rasteriser now and then
    # rounds an edge's pixel one shade apart (seen: 16 pixels of a rounded border, each off by 1).
    assert await pixels_apart(plain.page.context, plain_picture, hostile_picture) == 0


async def pixels_apart(context: BrowserContext, a: bytes, b: bytes, tolerance: int = 4) -> int:
    """How many pixels of two same-sized PNGs differ by more than ``tolerance`` in a channel (decoded by
    the browser, on a blank page of its own that no host page's policy governs: no image library needed)."""
    page = await context.new_page()
    count: int = await page.evaluate(
        """async ([a, b, tolerance]) => {
          const pixels = async (data) => {
            const png = await fetch('data:image/png;base64,' + data);
            const bitmap = await createImageBitmap(await png.blob());
            const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
            const context = canvas.getContext('2d');
            context.drawImage(bitmap, 0, 0);
            return context.getImageData(0, 0, bitmap.width, bitmap.height).data;
          };
          const [x, y] = await Promise.all([pixels(a), pixels(b)]);
          if (x.length !== y.length) return Infinity;
          let apart = 0;
          for (let i = 0; i < x.length; i += 4) {
            for (let c = 0; c < 4; c++) {
              if (Math.abs(x[i + c] - y[i + c]) > tolerance) { apart++; break; }
            }
          }
          return apart;
        }""",
        [base64.b64encode(a).decode(), base64.b64encode(b).decode(), tolerance],
    )
    await page.close()
    return count


# The host page as the widget could change it: markup, styles and boxes of every element, globals, title.
HOST_PAGE_JS = """tag => {
  const props = ['display', 'position', 'float', 'margin-top', 'padding-top', 'font-family', 'font-size',
    'line-height', 'color', 'background-color', 'opacity', 'visibility', 'overflow', 'transform', 'z-index'];
  // What the widget itself is: its element, and the snippet (added by the test).
  const ours = tag + ', script[data-site]';
  const elements = [...document.querySelectorAll('*')].filter(el => !el.matches(ours));
  const body = document.body.cloneNode(true);
  body.querySelectorAll(ours).forEach(el => el.remove());
  return {
    head: document.head.outerHTML,
    body: body.outerHTML,
    title: document.title,
    styleSheets: document.styleSheets.length,
    adoptedStyleSheets: document.adoptedStyleSheets.length,
    globals: Object.getOwnPropertyNames(window).sort(),
    scroll: [scrollX, scrollY, document.documentElement.scrollWidth, document.documentElement.scrollHeight],
    elements: elements.map(el => {
      const style = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      return [el.localName, [box.x, box.y, box.width, box.height].map(Math.round),
        ...props.map(p => style.getPropertyValue(p))];
    }),
  };
}"""


@pytest.mark.parametrize("query", ["", "hostile=1&"], ids=["plain", "hostile"])
async def test_the_widget_changes_nothing_on_the_host_page(
    browsing: Browsing, stack: Stack, query: str
) -> None:
    page = await (await browsing.context()).new_page()
    await page.goto(f"{stack.host}/?{query}widget=0")
    before = await page.evaluate(HOST_PAGE_JS, WIDGET_TAG)

    # The snippet, added the way a tag manager would; then the widget used in full.
    await page.evaluate(
        """src => {
          const script = document.createElement('script');
          script.src = src;
          script.dataset.site = 'shop';
          script.async = true;
          document.body.append(script);
        }""",
        f"{stack.widget}/widget.js",
    )
    widget = Widget(page, stack.widget)
    await widget.open()
    await widget.start("Noor")
    await widget.say("Hello")
    await widget.minimize.click()
    await expect(widget.window).to_be_hidden()

    after = await page.evaluate(HOST_PAGE_JS, WIDGET_TAG)
    assert await page.locator(f"body > {WIDGET_TAG}").count() == 1  # all the widget adds
    after["globals"].remove("WidgetServer")  # and its one global: the host page's API
    for key in before:
        assert after[key] == before[key], key


async def test_on_a_phone_the_chat_is_usable_full_screen(browsing: Browsing) -> None:
    phone = {"width": 360, "height": 740}
    widget = await browsing.visitor(
        "/", viewport=phone, is_mobile=True, has_touch=True, device_scale_factor=2
    )
    await expect(widget.launcher).to_be_visible()
    await shot(widget.page, "15-phone-launcher")

    await widget.launcher.tap()
    await widget.opened()
    assert await widget.window.bounding_box() == {"x": 0, "y": 0, **phone}
    await expect(widget.launcher).to_be_hidden()  # the window covers it; "Minimize chat" closes
    # 16 px fields: phones do not zoom into the page when one gets the focus.
    assert await widget.name.evaluate("el => getComputedStyle(el).fontSize") == "16px"
    await shot(widget.page, "16-phone-form")

    await widget.name.tap()
    await widget.start("Pat")
    await widget.say("Hello from my phone")
    for control in (widget.box, widget.send_button, widget.minimize):
        await expect(control).to_be_in_viewport(ratio=1)
    assert await widget.box.evaluate("el => getComputedStyle(el).fontSize") == "16px"
    assert await widget.page.evaluate("document.documentElement.scrollWidth") <= phone["width"]
    await shot(widget.page, "17-phone-chat")

    await widget.minimize.tap()
    await expect(widget.window).to_be_hidden()
    await expect(widget.launcher).to_be_visible()


async def test_keyboard_only_open_type_send_close(browsing: Browsing, stack: Stack) -> None:
    async with Agent.connected(stack.server):  # an agent online: the pre-chat form
        await keyboard_only_open_type_send_close(browsing)


async def keyboard_only_open_type_send_close(browsing: Browsing) -> None:
    widget = await browsing.visitor("/")
    keyboard = widget.page.keyboard
    await expect(widget.launcher).to_be_visible()
    # Tab through the host page's own links and controls until the launcher has the focus.
    for _ in range(15):
        await keyboard.press("Tab")
        if await widget.launcher.evaluate("el => el.getRootNode().activeElement === el"):
            break
    await expect(widget.launcher).to_be_focused()
    assert await widget.launcher.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"  # focus seen
    await shot(widget.page, "18-keyboard-focus-on-launcher")

    await keyboard.press("Enter")
    await expect(widget.window).to_be_visible()
    await expect(widget.name).to_be_focused()
    await keyboard.type("Kim")
    await keyboard.press("Tab")
    await expect(widget.email).to_be_focused()
    await keyboard.press("Tab")
    await expect(widget.subject).to_be_focused()
    await keyboard.type("Only a keyboard")
    await keyboard.press("Enter")
    await expect(widget.status).to_contain_text("Waiting for an agent")
    await expect(widget.box).to_be_focused()

    await keyboard.type("Sent without a mouse")
    await keyboard.press("Enter")
    await widget.stored("Sent without a mouse")
    await expect(widget.box).to_be_focused()
    await expect(widget.box).to_have_value("")
    await shot(widget.page, "19-keyboard-sent")

    await keyboard.press("Escape")
    await expect(widget.window).to_be_hidden()
    await expect(widget.launcher).to_be_focused()
    await expect(widget.launcher).to_have_attribute("aria-expanded", "false")
    await keyboard.press("Enter")
    await expect(widget.window).to_be_visible()
    await expect(widget.box).to_be_focused()
