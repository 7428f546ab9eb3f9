"""The widget's ``hello``: what it needs before anything else (whether anyone can answer now, the site's
name, what its chats can do).

Sent first on every visitor websocket and again when availability changes, and served over plain HTTP
(``GET /hello/{site}``) so that a page view that never chats costs no socket: the widget asks here when
the page loads, and opens its websocket only when the visitor opens it or already has a chat. The same
gate admits both: the site's allowed origins and blocked addresses (and Omnidesk's, where it governs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from widget_server import metrics, protocol
from widget_server.config import Site
from widget_server.json_output import dumps
from widget_server.runtime import Runtime
from widget_server.web.gate import log_refusal, refusal

# Browsers keep an answer this long (seconds): a page view soon after another asks nobody; an agent who
# came online is seen within this and the widget's next look (it asks again every minute it is shown).
MAX_AGE = 20


def hello_for(runtime: Runtime, site: Site) -> dict[str, Any]:
    now = datetime.now(UTC)
    site = runtime.sites.get(site.id) or site  # as it is now, after any change since the caller read it
    opens = site.hours.next_opening(now) if site.hours is not None else None
    adapter = runtime.adapter(site.id)
    reason = runtime.service.presence.unavailable_because(site, now)
    if reason is None and adapter.setup_problem is not None:
        reason = "backend"  # it cannot work as configured: the offline form, not a chat that fails
    capabilities = sorted(adapter.capabilities)
    frame = protocol.hello_frame(
        available=reason is None,
        capabilities=capabilities,
        name=site.name,
        opens_at=opens.strftime("%Y-%m-%dT%H:%M:%SZ") if opens is not None and opens > now else None,
        reason=reason,
        locale=site.locale,
        strings=site.strings,
    )
    if site.notify:
        frame["notify"] = True  # a sound and a title badge for a message while the tab is hidden
    replies = runtime.reply_times.get(site.id)
    if replies is not None:  # "Usually replies in a few minutes" (widget_server/reply_times.py)
        frame["replies"] = replies
    offered = [runtime.config.teams[t] for t in site.teams if t in runtime.config.teams]
    if offered and site.backend == "local":  # the pre-chat form's choice of team (Site.teams)
        frame["teams"] = [{"id": team.id, "name": team.name} for team in offered]
    if site.greetings:  # proactive greetings, matched and timed by the widget (greetings.py)
        frame["greetings"] = [greeting.hello() for greeting in site.greetings]
    if "attachments" in capabilities:  # so the widget can say the limits before an upload fails
        rules = site.attachments
        frame["files"] = {
            "maxBytes": rules.max_bytes,
            "maxFiles": rules.max_files,
            "types": list(rules.types),
        }
    return frame


def page_origin(request: Request) -> str | None:
    """The origin of the page that asks. A browser names it in ``Origin`` on a cross-origin fetch, but not
    on a GET from a page of the chat host itself (the Fetch standard sends none for a same-origin GET):
    there ``Sec-Fetch-Site: same-origin``, which no script can set, says the page is of this origin. The
    demo page is such a page, as is any site the operator serves from the chat host."""
    origin = request.headers.get("origin")
    if origin is None and request.headers.get("sec-fetch-site") == "same-origin":
        host = request.headers.get("host")
        if host:
            return f"{request.url.scheme}://{host}"
    return origin


async def visitor_hello(request: Request) -> Response:
    """``GET /hello/{site}`` from a page of an allowed origin: the hello frame as JSON, readable by that
    origin only (CORS). Refused like a websocket handshake: 403 with an empty body, one log line."""
    runtime: Runtime = request.app.state.runtime
    await runtime.refresh_sites()
    site_id = request.path_params["site"]
    site = runtime.sites.get(site_id)
    origin = page_origin(request)
    ip = request.client.host if request.client else None
    rule = await refusal(runtime, site, origin, ip)
    metrics.HELLOS.labels("refused" if rule else "accepted", rule or "").inc()
    if rule is not None or site is None:
        log_refusal("widget hello", site_id, origin, ip, rule or "unknown_site")
        # Readable by any page: the widget on a refused page sees the refusal and stays out of sight, where
        # a CORS failure would look like a network error that it retries over a socket.
        return Response(
            status_code=403, headers={"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}
        )
    headers = {
        "Cache-Control": f"private, max-age={MAX_AGE}",  # private: an answer for this address only
        "X-Content-Type-Options": "nosniff",
        "Vary": "Origin",
    }
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return Response(dumps(hello_for(runtime, site)), media_type="application/json", headers=headers)
