"""The Starlette application: routes, guards, and the runtime's life."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client import multiprocess
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from widget_server import metrics
from widget_server.assets import STATIC
from widget_server.config import CONFIG_ENV, AttachmentRules, Config, read_config
from widget_server.gc_tuning import CollectorTuning
from widget_server.runtime import Runtime
from widget_server.secret_key import load_secret_key
from widget_server.site_admin import SiteAdmin
from widget_server.web import (
    admin_api,
    admin_pages,
    agent,
    attachments,
    canned,
    health,
    hello,
    history_api,
    history_pages,
    hooks_helpcrunch,
    hooks_omnidesk,
    metrics_page,
    pages,
    reports_page,
    users_page,
    visitor,
)
from widget_server.web.body_limit import DEFAULT_LIMIT, LOGIN_LIMIT, BodyLimit, too_large
from widget_server.web.gate import VisitorGate
from widget_server.web.http_protocol import POLICY_KEY, ConnectionPolicy
from widget_server.web.proxy import TrustedProxyMiddleware
from widget_server.web.security import SESSION_LIFETIME, LoginThrottle


class Sessions:
    """Starlette's signed-cookie sessions, with the Secure flag whenever the client came over https
    (directly or through a trusted proxy), so one deployment serves both a local test and production."""

    def __init__(self, app: ASGIApp, secret_key: str) -> None:
        options: dict[str, Any] = {
            "secret_key": secret_key,
            "session_cookie": "widget_session",
            "same_site": "strict",
            "max_age": SESSION_LIFETIME,
        }
        self.plain = SessionMiddleware(app, **options)
        self.secure = SessionMiddleware(app, https_only=True, **options)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        secure = scope.get("scheme") in ("https", "wss")
        await (self.secure if secure else self.plain)(scope, receive, send)


def app_from_environment() -> Starlette:
    """The app of one of several worker processes (``widget-server serve --workers N``): its configuration
    file is named by WIDGET_SERVER_CONFIG (none: the demo)."""
    path = os.environ.get(CONFIG_ENV)
    return create_app(read_config(Path(path) if path else None))


def create_app(config: Config, *, on_ready: Any = None) -> Starlette:
    secret_key = load_secret_key(config.data_dir)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        runtime = await Runtime.start(config, secret_key)
        app.state.runtime = runtime
        app.state.site_admin = SiteAdmin(runtime.store, runtime.sites, runtime.refresh_sites)
        # Throttles of failed logins and wrong API tokens, for the whole deployment.
        app.state.login_throttle = LoginThrottle(runtime.state)
        app.state.api_failures = admin_api.failure_throttle(runtime.state)
        # Keep what lives long out of the collector's way, so that collections stay short while
        # thousands of sockets are open: what start-up made, and what survives each full collection.
        collector = CollectorTuning(asyncio.get_running_loop())
        collector.install()
        pauses = metrics.GCPauses()
        pauses.install()
        if on_ready is not None:
            on_ready(runtime)
        try:
            # The lifespan state reaches uvicorn's protocols too (widget_server/web/http_protocol.py).
            yield {POLICY_KEY: ConnectionPolicy(config.trusted_proxy_set, config.http_connections_per_ip)}
        finally:
            pauses.uninstall()
            collector.uninstall()
            await runtime.stop()
            if os.environ.get(metrics_page.MULTIPROCESS_ENV):
                multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    routes = [
        Route("/", pages.home),
        Route("/widget.js", pages.WidgetScript().respond),
        Route("/widget-files.js", pages.WidgetScript("widget-files.js").respond),
        Route("/widget-earlier.js", pages.WidgetScript("widget-earlier.js").respond),
        Route("/widget-locales/{name}", pages.WidgetLocales().respond),
        Route("/hello/{site}", hello.visitor_hello),
        Route("/healthz", health.healthz),
        Route("/readyz", health.readyz),
        Route("/metrics", metrics_page.metrics),
        # /ws/{site}, the visitor socket, is the gate's (widget_server/web/gate.py).
        Route("/agent", agent.console_page),
        Route("/agent/login", agent.login_page, methods=["GET", "POST"]),
        Route("/agent/logout", agent.logout, methods=["POST"]),
        WebSocketRoute("/agent/ws", agent.console_socket),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *admin_pages.routes,
        *reports_page.routes,
        *users_page.routes,
        *admin_api.routes,
        *history_api.routes,
        *history_pages.routes,
        *attachments.routes,
        *canned.routes,
        *hooks_helpcrunch.routes,
        *hooks_omnidesk.routes,
    ]

    def body_limit(path: str) -> int:
        if path.startswith(("/attachments/", "/agent/attachments/")):
            # The largest file any site takes; each site's own limit is checked as the upload is read.
            sites = app.state.runtime.sites.all() if hasattr(app.state, "runtime") else []
            largest = max((site.attachments.max_bytes for site in sites), default=AttachmentRules.max_bytes)
            return largest + attachments.FORM_OVERHEAD
        if path == "/agent/login":
            return LOGIN_LIMIT
        if path.startswith(history_api.PREFIX):
            return history_api.MAX_BODY
        if path.startswith(admin_api.PREFIX):
            return admin_api.MAX_BODY
        return DEFAULT_LIMIT

    def refusal(path: str, limit: int) -> dict[str, Any]:
        return history_api.too_large(limit) if path.startswith(history_api.PREFIX) else too_large(limit)

    middleware = [
        Middleware(BodyLimit, limit_for=body_limit, refusal_for=refusal),
        Middleware(TrustedProxyMiddleware, trusted_proxies=config.trusted_proxy_set),
        Middleware(VisitorGate, handler=visitor.visitor_socket),
        Middleware(GZipMiddleware, minimum_size=1024),
        Middleware(Sessions, secret_key=secret_key),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    return app
