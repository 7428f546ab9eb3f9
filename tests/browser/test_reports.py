"""The reports page in Chromium: an operator opens it from the admin navigation and reads the figures of
chats that really happened, in its tables and on charts that uPlot drew (under the pages' CSP, which
allows no inline script or style: the browsing fixture fails the test on any console error, a CSP
violation included); it passes axe-core at a desktop and a phone's width, in light and dark mode, and a
range it cannot answer is shown next to its field."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Page, expect

from tests.browser.support import SITE, Browsing, Console, Stack, serving_stack, shot
from tests.browser.test_accessibility import check
from tests.support.clients import Agent, Visitor
from widget_server.availability import DAYS

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(loop_scope="session")
async def stack(data_dir: Path) -> AsyncIterator[Stack]:
    """The site keeps business hours in Berlin (open all week): its time zone is offered for the days."""
    hours = {"timezone": "Europe/Berlin", **{day: ["00:00-24:00"] for day in DAYS}}
    async with serving_stack(data_dir, hours=hours) as stack:
        yield stack


async def some_chats(stack: Stack) -> None:
    """Two chats answered by the admin (one rated good), one missed, one offline message."""
    server = stack.server
    async with Agent.connected(server) as agent:
        for name in ("Ada", "Ben"):
            async with Visitor.connected(server, site=SITE, origin=stack.host) as visitor:
                await visitor.start(name)
                chat = visitor.chat or ""
                await agent.accept(chat)
                await agent.say(chat, "Hello! How can I help?", id=f"hello-{name}")
                if name == "Ada":
                    await visitor.send({"type": "rate", "rating": "good"})
                    await visitor.expect("event", kind="rating")
                await visitor.send({"type": "end"})
                await visitor.expect("event", kind="state", state="ended")
        async with Visitor.connected(server, site=SITE, origin=stack.host) as visitor:
            await visitor.start("Cy")
            await visitor.send({"type": "end"})
            await visitor.expect("event", kind="state", state="ended")
        async with Visitor.connected(server, site=SITE, origin=stack.host) as visitor:
            offline = {"type": "leave_message", "id": "o1", "name": "Di", "email": "di@example.com"}
            await visitor.send({**offline, "message": "Please call me back."})
            await visitor.expect("ack", id="o1")


async def charts_drawn(page: Page) -> None:
    """Every chart holds a canvas uPlot drew, of a real size."""
    charts = page.locator("[data-chart]")
    await expect(charts).to_have_count(5)  # by day (4) and by agent
    for index in range(await charts.count()):
        canvas = charts.nth(index).locator("canvas")
        await expect(canvas).to_have_count(1)
        box = await canvas.bounding_box()
        assert box is not None and box["width"] > 150 and box["height"] > 150, index


async def test_the_reports_page_shows_the_figures_and_draws_them(browsing: Browsing, stack: Stack) -> None:
    await some_chats(stack)
    console = await browsing.console()  # the default admin is an operator
    page = console.page
    await page.goto(stack.widget + "/admin")
    await page.get_by_role("navigation", name="Administration").get_by_role("link", name="Reports").click()
    await expect(page).to_have_url(stack.widget + "/admin/reports")
    await expect(page.get_by_role("heading", name="Reports", level=1)).to_be_visible()
    await expect(page.get_by_role("link", name="Reports")).to_have_attribute("aria-current", "page")
    totals = page.get_by_role("region", name="Totals")
    await expect(totals.locator(".kpi", has_text="Chats").locator(".kpi-value")).to_have_text("3")
    await expect(totals.locator(".kpi", has_text="Missed").locator(".kpi-value")).to_have_text("1")
    await expect(totals.locator(".kpi", has_text="Missed")).to_contain_text("and 1 offline message")
    await expect(totals.locator(".kpi", has_text="Rated good").locator(".kpi-value")).to_have_text("100 %")

    # Break down by agent, through the form (a GET: the URL says what is shown).
    await page.get_by_label("Break down by").select_option("agent")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(r"group_by=agent"))
    by_agent = page.get_by_role("region", name="By agent").get_by_role("table")
    admin_row = by_agent.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name=re.compile("^Admin"))
    )
    cells = admin_row.get_by_role("cell")
    await expect(cells.nth(0)).to_have_text("2")  # chats
    await expect(cells.nth(1)).to_have_text("2")  # answered
    await expect(cells.nth(8)).to_have_text("1")  # good
    nobody = by_agent.get_by_role("row").filter(has=page.get_by_role("rowheader", name="No agent"))
    await expect(nobody.get_by_role("cell").nth(2)).to_have_text("1")  # missed
    await expect(nobody.get_by_role("cell").nth(3)).to_have_text("1")  # offline messages
    by_day = page.get_by_role("region", name="By day").get_by_role("table")
    await expect(by_day.get_by_role("row")).to_have_count(2 + 30 + 1)  # two head rows, 30 days, the total
    await expect(by_day.locator("tfoot td").first).to_have_text("3")

    await charts_drawn(page)
    # Hovering a chart names the day and its figures under the legend.
    chart = page.locator("[data-chart=volume] .u-over")
    box = await chart.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] - 12, box["y"] + box["height"] / 2)
    legend = page.locator("figure", has=page.locator("[data-chart=volume]")).locator(".chart-legend")
    await expect(legend.locator(".chart-value").first).to_have_text("3")
    await page.mouse.move(0, 0)
    await shot(page, "60-reports")
    await check(page, "admin-reports")
    await charts_drawn(page)  # redrawn at the phone's width and back


async def test_the_reports_page_in_dark_mode(browsing: Browsing, stack: Stack) -> None:
    await some_chats(stack)
    context = await browsing.context(color_scheme="dark", viewport={"width": 1280, "height": 900})
    console = await Console.log_in(await context.new_page(), stack.widget, stack.server.admin_password())
    page = console.page
    await page.goto(stack.widget + "/admin/reports?group_by=agent&tz=Europe/Berlin")
    await expect(page.get_by_label("Days in")).to_have_value("Europe/Berlin")
    await charts_drawn(page)
    await shot(page, "61-reports-dark")
    await check(page, "admin-reports-dark")


async def test_a_range_it_cannot_answer_is_shown_next_to_its_field(browsing: Browsing, stack: Stack) -> None:
    browsing.expect_console_error(r"status of 400 \(Bad Request\)")  # the page's own status, on purpose
    console = await browsing.console()
    page = console.page
    response = await page.goto(stack.widget + "/admin/reports?from=2026-02-30&to=2026-03-01")
    assert response is not None and response.status == 400
    from_field = page.get_by_label("From")
    await expect(from_field).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#f-from-error")).to_contain_text("YYYY-MM-DD")
    await expect(page.locator("[data-chart]")).to_have_count(0)
    await check(page, "admin-reports-invalid")
    # A range over 366 days: the second date is the one at fault.
    await page.get_by_label("From").fill("2024-01-01")
    await page.get_by_label("To").fill("2025-06-30")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#f-to-error")).to_contain_text("at most 366 days")
