"""The plain HTTP pages: the demo host page, the loader, the console's pages."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import rjsmin

from tests.support.clients import HOST_ORIGIN, Server, log_in, make_config, running

CONSOLE_MODULES = Path(__file__).parents[1] / "static" / "agent"


async def test_the_demo_page_embeds_the_widget_with_the_real_script_tag(server: Server) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/") as response:
        page = await response.text()
        csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce, csp
    tag = re.search(r'<script src="/widget.js" data-site="demo"[^>]*>', page)
    assert tag and f'nonce="{nonce.group(1)}"' in tag.group(0) and " async" in tag.group(0)
    # The snippet to copy names this server, escaped as text.
    assert f"&lt;script src=&#34;{server.url}/widget.js&#34; data-site=&#34;demo&#34; async&gt;" in page
    assert "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    # A newcomer sees the offline form until an agent signs in: the page says why.
    assert "Until an agent is signed" in page and "offline form" in page


def source(name: str) -> str:
    return (Path(__file__).parents[1] / "static" / name).read_text(encoding="utf-8")


def minified(name: str) -> str:
    return str(rjsmin.jsmin(source(name)))


async def test_the_loader_is_served_cacheable_and_revalidated(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/widget.js") as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
            assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
            assert "max-age" in response.headers["Cache-Control"]
            etag = response.headers["ETag"]
            body = await response.read()
        # Served minified: the source less its comments and spaces, and nothing else.
        assert body.decode() == minified("widget.js")
        assert len(body) < 0.8 * len(source("widget.js"))
        async with http.get(f"{server.url}/widget-files.js") as response:
            assert (
                response.status == 200 and response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
            )
            assert (await response.read()).decode() == minified("widget-files.js")
        async with http.get(f"{server.url}/widget.js", headers={"If-None-Match": etag}) as response:
            assert response.status == 304


async def test_a_configured_server_says_nothing_about_its_sites(data_dir: Path) -> None:
    config = make_config(
        data_dir, {"sites": {"secret-client": {"name": "Secret Client", "allowed_origins": [HOST_ORIGIN]}}}
    )
    async with running(config) as server, aiohttp.ClientSession() as http:
        for path in ["/", "/widget.js", "/agent/login", "/nope"]:
            async with http.get(f"{server.url}{path}") as response:
                text = await response.text()
                assert "secret" not in text.lower(), path


async def test_the_console_needs_a_login(server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/agent", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/agent/login?next=/agent"
        async with http.get(f"{server.url}/agent/login") as response:
            assert response.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        for asset in ["/static/agent/main.js", "/static/console.css"]:
            async with http.get(f"{server.url}{asset}") as response:
                assert response.status == 200, asset


async def test_the_console_loads_its_modules_as_javascript_and_all_at_once(server: Server) -> None:
    """The console's script is native ES modules (static/agent/, no build step). A browser runs a module only
    when it comes with a JavaScript content type, and a broken import stops the whole console; the page
    preloads every module, so that the imports cost one round trip rather than one per level."""
    modules = sorted(path.name for path in CONSOLE_MODULES.glob("*.js"))
    for path in CONSOLE_MODULES.glob("*.js"):
        for imported in re.findall(r'^(?:import .*|\}) from "\./([^"]+)";$', path.read_text(), re.MULTILINE):
            assert imported in modules, f"{path.name} imports ./{imported}, which is not in static/agent/"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        await log_in(http, server.url, "admin", server.admin_password())
        page = await (await http.get(f"{server.url}/agent")).text()
        for name in modules:
            async with http.get(f"{server.url}/static/agent/{name}") as response:
                assert response.status == 200, name
                assert response.content_type in {"text/javascript", "application/javascript"}, name
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="/static/agent/main.js">']
    preloaded = re.findall(r'<link rel="modulepreload" href="/static/agent/([^"]+)">', page)
    assert sorted([*preloaded, "main.js"]) == modules


def test_the_console_modules_import_one_another_without_a_cycle() -> None:
    """A module of the console never imports, through others, one that imports it: callbacks go through
    static/agent/handlers.js instead (a cycle works in a browser only by the order of evaluation)."""
    imports = {
        path.name: re.findall(r'^(?:import .*|\}) from "\./([^"]+)";$', path.read_text(), re.MULTILINE)
        for path in CONSOLE_MODULES.glob("*.js")
    }

    def cycle_from(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        for imported in imports.get(name, []):
            found = cycle_from(imported, [*path, name])
            if found:
                return found
        return None

    assert [cycle for name in sorted(imports) if (cycle := cycle_from(name, []))] == []


async def test_login_redirects_only_to_our_own_pages(server: Server) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for next_url, expected in [
            ("/agent", "/agent"),
            ("//evil.example/", "/agent"),
            ("https://evil.example", "/agent"),
        ]:
            page = await (await http.get(f"{server.url}/agent/login", params={"next": next_url})).text()
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            response = await http.post(
                f"{server.url}/agent/login",
                params={"next": next_url},
                data={"name": "admin", "password": server.admin_password(), "csrf": csrf},
                allow_redirects=False,
            )
            assert response.headers["Location"] == expected, next_url
