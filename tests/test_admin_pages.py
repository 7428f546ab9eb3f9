"""The admin page `/admin` over real HTTP: login and roles, CSRF, sites, origins and blocked addresses
through the forms, inline validation errors, read-only provisioned sites, and the audit log."""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.support.clients import Server, Visitor, csrf_of, log_in, make_config, running
from widget_server import model
from widget_server.model import Actor, AuditEntry

CLI = Actor("tester", "cli")


@dataclass
class Browser:
    """A logged-in person's cookie jar, posting forms with the session's CSRF token as a browser
    would."""

    http: aiohttp.ClientSession
    server: Server
    csrf: str = ""

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.server.url + path, allow_redirects=False) as response:
            return response.status, await response.text()

    async def post(
        self, path: str, data: dict[str, str], *, csrf: bool = True, headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        form = {"csrf": self.csrf, **data} if csrf else data
        response = await self.http.post(
            self.server.url + path, data=form, headers=headers or {}, allow_redirects=False
        )
        await response.read()
        return response


@contextlib.asynccontextmanager
async def browser(server: Server, name: str = "admin", password: str | None = None) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await log_in(http, server.url, name, password or server.admin_password())
        page = Browser(http, server)
        status, text = await page.get("/admin")
        if status == 200:
            page.csrf = csrf_of(text)
        yield page


@pytest.fixture
async def operator(server: Server) -> AsyncIterator[Browser]:
    async with browser(server) as page:
        yield page


async def create(page: Browser, site_id: str = "acme", **fields: str) -> aiohttp.ClientResponse:
    data = {"id": site_id, "name": "ACME Support", "backend": "local", **fields}
    return await page.post("/admin/sites", data)


def field_error(text: str, field: str) -> str | None:
    """The inline problem shown under the input with this id."""
    match = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">([^<]*)</p>', text)
    return html.unescape(match.group(1)) if match else None


async def audit_actions(server: Server) -> list[tuple[str, str, str]]:
    return [(e.action, e.target, e.via) for e in await server.runtime.store.list_audit(100)]


# --- who gets in ----------------------------------------------------------------------------------------


async def test_without_a_login_every_admin_page_sends_to_the_login(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        for path, expected in [
            ("/admin", "/agent/login?next=/admin"),
            ("/admin/sites/demo", "/agent/login?next=/admin/sites/demo"),
            ("/admin/audit?before=5", "/agent/login?next=/admin/audit%3Fbefore%3D5"),
        ]:
            async with http.get(server.url + path, allow_redirects=False) as response:
                assert response.status == 303 and response.headers["Location"] == expected, path
        async with http.post(
            f"{server.url}/admin/sites", data={"id": "x", "name": "X"}, allow_redirects=False
        ) as response:
            assert response.status == 303 and response.headers["Location"].startswith("/agent/login")
    assert server.runtime.sites.get("x") is None


async def test_the_login_form_leads_back_to_the_admin_page(server: Server) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        page = await (await http.get(f"{server.url}/agent/login?next=/admin")).text()
        response = await http.post(
            f"{server.url}/agent/login?next=/admin",
            data={"name": "admin", "password": server.admin_password(), "csrf": csrf_of(page)},
            allow_redirects=False,
        )
        assert response.status == 303 and response.headers["Location"] == "/admin"


async def test_an_agent_is_told_the_page_is_for_operators(server: Server) -> None:
    await server.app.state.site_admin.add_user(CLI, "alice", model.AGENT_ROLE, "a long password")
    async with browser(server, "alice", "a long password") as agent:
        status, text = await agent.get("/admin")
        assert status == 403 and "operator role" in text and "agent" in text
        status, _ = await agent.get("/admin/sites/demo")
        assert status == 403
        # The agent's own session token does not make a post acceptable either.
        _, console = await agent.get("/agent")
        agent.csrf = csrf_of(console)
        response = await create(agent)
        assert response.status == 403
    assert server.runtime.sites.get("acme") is None


async def test_pages_send_the_csp_with_frame_ancestors(server: Server, operator: Browser) -> None:
    responses = []
    for path in ["/admin", "/admin/sites/new", "/admin/sites/demo", "/admin/audit", "/admin/sites/nope"]:
        responses.append(await operator.http.get(server.url + path))
    responses.append(await operator.post("/admin/sites", {"id": "x"}, csrf=False))  # the 400 page
    for response in responses:
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, response.url
        assert response.headers["X-Frame-Options"] == "DENY"
        body = await response.text()
        assert "<script>" not in body and " style=" not in body  # nothing inline: the CSP forbids it
    assert [r.status for r in responses] == [200, 200, 200, 200, 404, 400]


# --- CSRF -----------------------------------------------------------------------------------------------


async def test_a_post_without_the_token_or_from_another_origin_changes_nothing(
    server: Server, operator: Browser
) -> None:
    assert (await create(operator, "mine")).status == 303
    before = await audit_actions(server)
    attempts = [
        await operator.post("/admin/sites", {"id": "acme", "name": "ACME"}, csrf=False),
        await operator.post("/admin/sites", {"id": "acme", "name": "ACME", "csrf": "forged"}, csrf=False),
        await operator.post(
            "/admin/sites", {"id": "acme", "name": "ACME"}, headers={"Origin": "https://evil.example"}
        ),
        await operator.post("/admin/sites/mine/origins", {"origin": "https://evil.example"}, csrf=False),
        await operator.post(
            "/admin/sites/mine/delete", {"confirm": "yes"}, headers={"Origin": "https://evil.example"}
        ),
    ]
    assert [r.status for r in attempts] == [400] * len(attempts)
    assert "nothing was changed" in await attempts[0].text()
    assert server.runtime.sites.get("acme") is None
    site = server.runtime.sites.get("mine")
    assert site is not None and site.allowed_origins == ()
    assert await audit_actions(server) == before
    # The same post from our own origin is done.
    response = await operator.post(
        "/admin/sites/mine/origins", {"origin": "https://mine.example"}, headers={"Origin": server.url}
    )
    assert response.status == 303


# --- sites ----------------------------------------------------------------------------------------------


async def test_a_site_created_through_the_form_is_listed_served_and_audited(
    server: Server, operator: Browser
) -> None:
    status, form = await operator.get("/admin/sites/new")
    assert status == 200 and 'name="gws.base_url"' in form and 'name="limits.sockets_per_ip"' in form
    response = await create(
        operator,
        allowed_origins="https://acme.example\n\n  https://*.acme.example  \n",
        blocked_ips="198.51.100.0/24",
        **{"limits.sockets_per_ip": "5"},
    )
    assert response.status == 303 and response.headers["Location"] == "/admin/sites/acme"
    site = server.runtime.sites.get("acme")
    assert site is not None and not site.provisioned
    assert site.allowed_origins == ("https://acme.example", "https://*.acme.example")
    assert site.blocked_ips == ("198.51.100.0/24",) and site.limits.sockets_per_ip == 5

    _, listing = await operator.get("/admin")
    row = re.search(r'href="/admin/sites/acme">ACME Support</a>.*?</tr>', listing, re.S)
    assert row and 'class="badge database"' in row.group(0) and ">local<" in row.group(0)
    _, page = await operator.get("/admin/sites/acme")
    snippet = f'<script src="{server.url}/widget.js" data-site="acme" async></script>'
    assert html.escape(snippet, quote=False).replace('"', "&#34;") in page
    assert 'data-copy="snippet"' in page

    entry = (await server.runtime.store.list_audit(1))[0]
    assert (entry.action, entry.target, entry.actor, entry.via, entry.address) == (
        "site.create",
        "acme",
        "admin",
        "admin page",
        "127.0.0.1",
    )
    _, audit = await operator.get("/admin/audit")
    assert "site.create" in audit and "via admin page" in audit and "127.0.0.1" in audit
    assert '<a href="/admin/sites/acme">acme</a>' in audit
    assert "site.create" in page  # the site's own recent changes


async def test_a_refused_site_shows_each_problem_next_to_its_field_and_keeps_the_input(
    server: Server, operator: Browser
) -> None:
    response = await create(
        operator, "acme", allowed_origins="https://acme.example\nhttps://*.com", name="Keep me"
    )
    text = await response.text()
    assert response.status == 400
    assert field_error(text, "f-allowed_origins") == (
        "'https://*.com' would match every site under the public suffix 'com'."
    )
    assert "https://acme.example\nhttps://*.com</textarea>" in text and 'value="Keep me"' in text

    response = await create(operator, "Bad Id", name="", backend="gws", **{"limits.sockets_per_ip": "x"})
    text = await response.text()
    assert (
        response.status == 400 and field_error(text, "f-limits-sockets_per_ip") == "Must be a whole number."
    )
    response = await create(operator, "Bad Id", name="", backend="gws", **{"gws.base_url": "ftp://x"})
    text = await response.text()
    assert field_error(text, "f-id") == "A site id is 1 to 63 lowercase letters, digits, '-' or '_'."
    assert field_error(text, "f-gws-base_url") is not None  # reported together, not one per try
    assert field_error(text, "f-name") is None  # an empty name is the site's id

    response = await create(operator, "shop", backend="gws", **{"gws.base_url": "https://gws.example"})
    text = await response.text()
    assert response.status == 400 and field_error(text, "f-gws-contact_center_id") == "Required."
    assert 'value="https://gws.example"' in text

    assert (await create(operator, "demo")).status == 409
    assert server.runtime.sites.get("acme") is None and server.runtime.sites.get("shop") is None
    assert await audit_actions(server) == []


async def test_origins_and_ips_are_added_and_removed_with_inline_errors(
    server: Server, operator: Browser
) -> None:
    assert (await create(operator)).status == 303
    done = await operator.post("/admin/sites/acme/origins", {"origin": "https://acme.example"})
    assert done.status == 303 and done.headers["Location"] == "/admin/sites/acme#origins"
    assert (await operator.post("/admin/sites/acme/ips", {"ip": "2001:db8::/32"})).status == 303
    _, page = await operator.get("/admin/sites/acme")
    assert '<p class="alert success toast" role="status" data-toast>Blocked 2001:db8::/32.</p>' in page
    _, page = await operator.get("/admin/sites/acme")
    assert "alert success" not in page  # said once

    refused = await operator.post("/admin/sites/acme/origins", {"origin": "https://*.com"})
    text = await refused.text()
    assert refused.status == 400
    assert (
        field_error(text, "f-origin")
        == "'https://*.com' would match every site under the public suffix 'com'."
    )
    assert 'value="https://*.com"' in text and 'aria-invalid="true"' in text
    refused = await operator.post("/admin/sites/acme/ips", {"ip": "10.0.0.1/8"})
    assert (
        field_error(await refused.text(), "f-ip")
        == "'10.0.0.1/8' has host bits set; did you mean '10.0.0.0/8'?"
    )

    site = server.runtime.sites.get("acme")
    assert site is not None
    assert site.allowed_origins == ("https://acme.example",) and site.blocked_ips == ("2001:db8::/32",)
    _, page = await operator.get("/admin/sites/acme")
    assert "<code>https://acme.example</code>" in page and "<code>2001:db8::/32</code>" in page

    assert (
        await operator.post("/admin/sites/acme/origins/remove", {"origin": "https://acme.example"})
    ).status == 303
    assert (await operator.post("/admin/sites/acme/ips/remove", {"ip": "2001:db8::/32"})).status == 303
    again = await operator.post("/admin/sites/acme/ips/remove", {"ip": "2001:db8::/32"})  # a second tab
    assert again.status == 404 and "is not blocked" in await again.text()
    site = server.runtime.sites.get("acme")
    assert site is not None and site.allowed_origins == () and site.blocked_ips == ()
    assert [a for a, _, via in await audit_actions(server) if via == "admin page"] == [
        "site.unblock_ip",
        "site.disallow_origin",
        "site.block_ip",
        "site.allow_origin",
        "site.create",
    ]


async def test_settings_are_edited_with_inline_errors(server: Server, operator: Browser) -> None:
    assert (await create(operator, allowed_origins="https://acme.example")).status == 303
    edit = {"name": "ACME Help", "backend": "local", "limits.messages_per_minute": "30"}
    done = await operator.post("/admin/sites/acme", {**edit, "notify": "on"})
    assert done.status == 303
    site = server.runtime.sites.get("acme")
    assert site is not None and site.name == "ACME Help" and site.limits.messages_per_minute == 30
    assert site.notify and 'name="notify" value="on" checked' in (await operator.get("/admin/sites/acme"))[1]
    assert (await operator.post("/admin/sites/acme", edit)).status == 303  # unchecked: off again
    site = server.runtime.sites.get("acme")
    assert site is not None and not site.notify
    assert site.allowed_origins == ("https://acme.example",)  # untouched by the settings form

    refused = await operator.post("/admin/sites/acme", {**edit, "limits.messages_per_minute": "0"})
    assert field_error(await refused.text(), "f-limits-messages_per_minute") == "Must be greater than 0."
    refused = await operator.post("/admin/sites/acme", {**edit, "name": " "})
    assert field_error(await refused.text(), "f-name") == "Required."
    refused = await operator.post("/admin/sites/acme", {**edit, "backend": "gws"})
    text = await refused.text()
    assert refused.status == 400 and field_error(text, "f-gws-base_url") == "Required."
    assert '<option value="gws" selected>' in text

    _, audit = await operator.get("/admin/audit")
    assert "site.update" in audit and "messages_per_minute:" in audit and "60 → 30" in audit
    site = server.runtime.sites.get("acme")
    assert site is not None and site.backend == "local" and site.limits.messages_per_minute == 30


async def test_deleting_a_site_needs_the_confirmation(server: Server, operator: Browser) -> None:
    assert (await create(operator)).status == 303
    unconfirmed = await operator.post("/admin/sites/acme/delete", {})
    assert unconfirmed.status == 400
    assert (
        field_error(await unconfirmed.text(), "f-confirm") == "Tick the box to confirm; nothing was deleted."
    )
    assert server.runtime.sites.get("acme") is not None
    done = await operator.post("/admin/sites/acme/delete", {"confirm": "yes"})
    assert done.status == 303 and done.headers["Location"] == "/admin"
    assert server.runtime.sites.get("acme") is None
    assert (await audit_actions(server))[0] == ("site.remove", "acme", "admin page")
    status, _ = await operator.get("/admin/sites/acme")
    assert status == 404


async def test_a_provisioned_site_is_read_only(data_dir: Path) -> None:
    table = {
        "name": "From the file",
        "allowed_origins": ["https://file.example"],
        "blocked_ips": ["192.0.2.1"],
    }
    async with running(make_config(data_dir, {"sites": {"filed": table}})) as server, browser(server) as page:
        status, text = await page.get("/admin/sites/filed")
        assert status == 200 and "configuration file" in text and "https://file.example" in text
        assert 'action="/admin/sites/filed' not in text  # no forms at all
        _, listing = await page.get("/admin")
        assert 'class="badge config"' in listing
        for path, data in [
            ("/admin/sites/filed/origins", {"origin": "https://other.example"}),
            ("/admin/sites/filed/origins/remove", {"origin": "https://file.example"}),
            ("/admin/sites/filed/ips", {"ip": "192.0.2.2"}),
            ("/admin/sites/filed/ips/remove", {"ip": "192.0.2.1"}),
            ("/admin/sites/filed", {"name": "Changed", "backend": "local"}),
            ("/admin/sites/filed/delete", {"confirm": "yes"}),
        ]:
            response = await page.post(path, data)
            assert response.status == 409 and "provisioned" in await response.text(), path
        site = server.runtime.sites.get("filed")
        assert site is not None and site.name == "From the file"
        assert site.allowed_origins == ("https://file.example",) and site.blocked_ips == ("192.0.2.1",)
        assert await audit_actions(server) == []


async def test_what_people_typed_is_shown_as_text(server: Server, operator: Browser) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    assert (await create(operator, "acme", name=evil)).status == 303
    refused = await operator.post("/admin/sites/acme/origins", {"origin": '"><script>alert(2)</script>'})
    pages = [await refused.text()]
    for path in ["/admin", "/admin/sites/acme", "/admin/audit"]:
        pages.append((await operator.get(path))[1])
    for text in pages:
        assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in pages[1]
    assert "&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in pages[0]


# --- the overview and the audit log ---------------------------------------------------------------------


async def test_stored_sites_that_fail_the_checks_are_listed_with_their_problem(
    server: Server, operator: Browser
) -> None:
    bad = {"name": "Broken", "backend": "nope"}
    await server.runtime.store.change_site(
        "broken", bad, AuditEntry.of(CLI, "site.create", "broken"), create=True
    )
    await server.runtime.refresh_sites()
    _, listing = await operator.get("/admin")
    assert "Stored sites that are not served" in listing
    assert "<code>broken</code>" in listing and "unknown backend &#39;nope&#39;" in listing
    status, text = await operator.get("/admin/sites/broken")
    assert status == 404 and "not valid" in text


async def test_the_audit_log_pages_newest_first(server: Server, operator: Browser) -> None:
    for n in range(55):
        await server.runtime.store.add_audit(AuditEntry.of(CLI, "user.add", f"user{n:02}", role="agent"))
    _, first = await operator.get("/admin/audit")
    targets = re.findall(r'<td class="target">(user\d+)</td>', first)
    assert len(targets) == 50 and targets[0] == "user54" and targets[-1] == "user05"
    older = re.search(r'href="/admin/audit\?before=(\d+)"', first)
    assert older
    _, second = await operator.get(f"/admin/audit?before={older.group(1)}")
    assert re.findall(r'<td class="target">(user\d+)</td>', second) == [
        f"user{n:02}" for n in range(4, -1, -1)
    ]
    assert "before=" not in second and 'href="/admin/audit">Newest' in second
    status, _ = await operator.get("/admin/audit?before=x")
    assert status == 400


async def test_live_connections_are_counted_per_site(server: Server, operator: Browser) -> None:
    async with Visitor.connected(server):
        _, listing = await operator.get("/admin")
        _, page = await operator.get("/admin/sites/demo")
    row = re.search(r'href="/admin/sites/demo">.*?</tr>', listing, re.S)
    assert row and '<span class="live on">1</span>' in row.group(0)
    assert '<span class="live on">1</span>' in page
