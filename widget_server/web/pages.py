"""Plain pages: the demo host page, the widget loader, and the template renderer with our headers."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import rjsmin
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.templating import Jinja2Templates

from widget_server.assets import STATIC, TEMPLATES
from widget_server.config import DEMO_SITE
from widget_server.web.security import PAGE_HEADERS
from widget_server.widget_strings import LOCALES

# Autoescape everything: whatever a visitor or agent wrote is text, never markup.
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True))
)


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context, status_code=status, headers=PAGE_HEADERS)
    return response


class WidgetScript:
    """A file host pages load from us (``/widget.js``, the loader; ``/widget-files.js``, the upload part it
    loads when a chat can take files; a language's strings): cached briefly by browsers and revalidated by
    ETag so that a fix reaches every site within minutes. Scripts are served minified: the repository
    keeps the commented source, every visitor gets a quarter fewer bytes (widget.js: 18.4 KB gzipped as
    written, 14.0 KB minified)."""

    def __init__(
        self,
        name: str = "widget.js",
        media_type: str = "text/javascript; charset=utf-8",
        *,
        cors: bool = False,
    ) -> None:
        self.body = (STATIC / name).read_bytes()
        if name.endswith(".js"):
            # rjsmin drops comments and spaces and nothing else: no renaming, strings and template
            # literals kept byte for byte, so the served script behaves as the source reads.
            self.body = rjsmin.jsmin(self.body.decode("utf-8")).encode("utf-8")
        self.etag = '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'
        self.media_type = media_type
        self.headers = {
            "Cache-Control": "public, max-age=300",
            "ETag": self.etag,
            # Host pages with Cross-Origin-Embedder-Policy may load it.
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        }
        if cors:  # read with fetch() from any page: public, and asked for without credentials
            self.headers["Access-Control-Allow-Origin"] = "*"

    async def respond(self, request: Request) -> Response:
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=self.headers)
        return Response(self.body, media_type=self.media_type, headers=self.headers)


class WidgetLocales:
    """``/widget-locales/CODE.json``: the widget's strings in one language (static/locales/, see
    widget_server/widget_strings.py), fetched by the widget from the host page when it speaks it."""

    def __init__(self) -> None:
        self.files = {
            code: WidgetScript(f"locales/{code}.json", "application/json", cors=True)
            for code in LOCALES
            if code != "en"  # English is in widget.js itself
        }

    async def respond(self, request: Request) -> Response:
        name: str = request.path_params["name"]
        locale = self.files.get(name.removesuffix(".json")) if name.endswith(".json") else None
        if locale is None:
            return Response(status_code=404, headers={"Cache-Control": "no-store"})
        return await locale.respond(request)


async def home(request: Request) -> Response:
    """The demo host page when the demo site is served (no configuration); else a plain notice that says
    nothing about the sites configured."""
    runtime = request.app.state.runtime
    if runtime.sites.get(DEMO_SITE) is None or runtime.config.sites:
        return render(request, "running.html", {})
    nonce = secrets.token_urlsafe(16)
    origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
    snippet = f'<script src="{origin}/widget.js" data-site="{DEMO_SITE}" async></script>'
    # The demo page is a host page like a customer's: its policy allows exactly what docs/embedding.md
    # tells website owners to allow, so the demo proves that advice.
    csp = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )
    response = templates.TemplateResponse(
        request,
        "demo.html",
        {"nonce": nonce, "snippet": snippet, "site": DEMO_SITE},
        headers={**PAGE_HEADERS, "Content-Security-Policy": csp},
    )
    return response
