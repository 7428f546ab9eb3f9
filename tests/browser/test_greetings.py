"""Proactive greetings in Chromium (docs/embedding.md, "Greetings"): a site's rule shows its bubble after its
seconds on a matching page and nowhere else, never while nobody can answer (unless it offers the offline
form), once per browser per period; nothing is stored until the visitor answers, and then the rule's text
is the chat's first event, seen by the agent in the console; the host page's own greeting
(`WidgetServer("greet", …)`) is stored marked as the page's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Locator, expect

from tests.browser.support import SITE, Browsing, Stack, Widget, serving_stack, shot
from tests.browser.test_accessibility import violations
from tests.browser.test_offline_and_rating import OfflineForm
from tests.support.clients import Agent

pytestmark = pytest.mark.asyncio(loop_scope="session")

TENTS = "Looking for a tent? Our team knows every one of them."
HELP = "We're away, but leave us a message and we'll write back."
RULES = [
    {"id": "tents", "pages": ["/tents*"], "after": 1.5, "text": TENTS, "from": "Tent team"},
    {"id": "help", "pages": ["/help"], "after": 0.5, "text": HELP, "offline": True},
]


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path) -> AsyncIterator[Stack]:
    async with serving_stack(data_dir, greetings=RULES) as stack:
        yield stack


def bubble(widget: Widget) -> Locator:
    return widget.host.locator(".greet")


async def stored_chats(stack: Stack) -> list[str]:
    return [chat.id for chat in await stack.server.runtime.store.list_chats(sites=[SITE])]


async def first_event(stack: Stack) -> dict[str, object]:
    (chat,) = await stored_chats(stack)
    events = await stack.server.runtime.store.events_after(chat, 0)
    return {"kind": events[0].kind, **events[0].data}


async def test_a_rule_greets_after_its_seconds_on_its_pages_and_is_stored_once_answered(
    browsing: Browsing, stack: Stack
) -> None:
    console = await browsing.console()  # an agent online: someone can answer
    context = await browsing.context()
    elsewhere = await browsing.visitor("/help-center", context)  # matches no rule
    widget = await browsing.visitor("/tents/trail-2", context)

    # After its 1.5 seconds on the page, not before; the page opened earlier matches nothing and shows none.
    await expect(bubble(widget)).to_be_visible()
    assert await widget.page.evaluate("performance.now()") >= 1500
    await expect(bubble(widget)).to_contain_text("Tent team" + TENTS)
    await expect(bubble(elsewhere)).to_be_hidden()
    await shot(widget.page, "greeting-bubble")
    assert await violations(widget.page) == []  # axe-core: names, contrast
    seen = await widget.page.evaluate(
        "key => localStorage.getItem(key)", f"widget_server:{stack.widget}:{SITE}:greeted"
    )
    assert list(json.loads(seen)) == ["tents"]
    assert await stored_chats(stack) == []  # shown, not answered: nothing stored

    # Answered: the chat opens with the greeting above the form, and the greeting is its first event.
    await bubble(widget).get_by_role("button", name=TENTS).click()
    await widget.opened()
    await expect(widget.host.locator("form.pre .msg.agent")).to_contain_text(TENTS)
    await widget.start("Chris")
    assert await first_event(stack) == {
        "kind": "greeting",
        "name": "Tent team",
        "text": TENTS,
        "rule": "tents",
    }
    assert (await widget.transcript())[0] == ["agent", TENTS]
    await console.waiting("Chris").click()
    line = console.transcript.locator(".msg.greeting")
    await expect(line).to_contain_text("Greeting · Tent team")
    await expect(line.locator(".bubble")).to_have_text(TENTS)

    # Once per browser per rule per `again_after_days`: another browser's visit is greeted, a dismissal
    # is kept, and the same browser is not greeted again on its next page.
    other = await browsing.visitor("/tents")
    await expect(bubble(other)).to_be_visible()
    await bubble(other).get_by_role("button", name="Dismiss").click()
    await expect(bubble(other)).to_be_hidden()
    await other.page.reload()
    await other.page.wait_for_function("performance.now() > 2500")  # a second past the rule's time
    await expect(bubble(other)).to_be_hidden()
    assert len(await stored_chats(stack)) == 1


async def test_nobody_to_answer_no_greeting_unless_it_offers_the_offline_form(
    browsing: Browsing, stack: Stack
) -> None:
    context = await browsing.context()
    tents = await browsing.visitor("/tents", context)  # no agent online: its rule may not greet
    helping = await browsing.visitor("/help", context)  # an offline rule: it greets
    await expect(bubble(helping)).to_contain_text("Nordic Outdoor" + HELP)  # from the site, by default
    await tents.page.wait_for_function("performance.now() > 2000")  # half a second past the rule's time
    await expect(bubble(tents)).to_be_hidden()

    await bubble(helping).get_by_role("button", name=HELP).click()
    await helping.opened()
    form = OfflineForm(helping)
    await expect(form.form.locator(".msg.agent")).to_contain_text(HELP)
    await form.name.fill("Dana")
    await form.email.fill("dana@example.com")
    await form.message.fill("Do you rent tents?")
    await form.send.click()
    await expect(form.confirmation).to_be_visible()
    assert await first_event(stack) == {
        "kind": "greeting",
        "name": "Nordic Outdoor",
        "text": HELP,
        "rule": "help",
    }


async def test_the_host_pages_own_greeting_shows_at_once_and_is_stored_as_the_pages(
    browsing: Browsing, stack: Stack
) -> None:
    async with Agent.connected(stack.server) as agent:
        widget = await browsing.visitor("/checkout")
        await widget.page.evaluate(
            """() => WidgetServer("greet", {text: "Free shipping today!", from: "Shop"})"""
        )
        await expect(bubble(widget)).to_contain_text("ShopFree shipping today!")
        await bubble(widget).get_by_role("button", name="Free shipping today!").click()
        await widget.opened()
        await widget.start("Robin")
        chat = (await agent.expect("chat"))["chat"]["id"]
        await agent.send({"type": "history", "chat": chat, "after": 0})
        history = await agent.expect("history", chat=chat)
        first = history["events"][0]
        assert (first["kind"], first["text"], first["name"], first.get("page")) == (
            "greeting",
            "Free shipping today!",
            "Shop",
            True,
        )
        assert "rule" not in first
