"""Health for load balancers, orchestrators and monitoring: ``/healthz`` (the process lives) and
``/readyz`` (it can serve pages and chats now).

``/readyz`` answers 200 when every check passes and 503 naming the failing ones otherwise, each with a
sentence: the store takes a write, the bus carries messages between processes, the templates and the
static files the pages need are readable, and the process is not shutting down. A contact center that
fails is listed but does not make the process unready: every replica shares it, and a load balancer
that took them all out would stop the chats of every other site and the offline form too.

Both are public, so they name what fails but not where (no addresses, no secrets' names): the admin
API's ``/api/admin/stats`` and the log have the details.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse

from widget_server.assets import STATIC
from widget_server.runtime import Runtime
from widget_server.web.pages import templates

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0  # a check that takes longer fails: a load balancer's probe waits about this long
# What the pages need, as installed: a file that goes missing or unreadable later fails readiness.
TEMPLATE_NAMES = tuple(templates.env.list_templates())
# Every file below static/, the console's modules in static/agent/ included, as paths relative to it.
STATIC_FILES = tuple(
    sorted(str(path.relative_to(STATIC)) for path in Path(STATIC).rglob("*") if path.is_file())
)


async def healthz(request: Request) -> JSONResponse:
    """The process lives. "degraded" when a site's contact center is failing (still 200)."""
    runtime: Runtime = request.app.state.runtime
    unhealthy = any(not h.healthy for h in runtime.adapter_context.health.values())
    return JSONResponse({"status": "degraded" if unhealthy else "ok"})


async def readyz(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    store, bus = await asyncio.gather(_store(runtime), _bus(runtime))
    checks = {
        "store": store,
        "bus": bus,
        "templates": _templates(),
        "static": _static(),
        "process": "shutting down" if runtime.stopping else None,
    }
    failing = {name: why for name, why in checks.items() if why is not None}
    for name, why in failing.items():
        log.warning("not ready: %s: %s", name, why)
    unhealthy = sorted(site for site, health in runtime.adapter_context.health.items() if not health.healthy)
    body = {
        "status": "not_ready" if failing else "ready",
        "checks": {name: why or "ok" for name, why in checks.items()},
        "contact_centers_failing": unhealthy,
    }
    return JSONResponse(body, status_code=503 if failing else 200)


async def _store(runtime: Runtime) -> str | None:
    try:
        await asyncio.wait_for(runtime.store.check_writable(), PROBE_TIMEOUT)
    except TimeoutError:
        return f"a write did not finish within {PROBE_TIMEOUT:g} s"
    except Exception as error:  # whatever the driver raises: the sentence, not the traceback
        return f"a write failed ({type(error).__name__})"
    return None


async def _bus(runtime: Runtime) -> str | None:
    try:
        return await asyncio.wait_for(runtime.bus.problem(), PROBE_TIMEOUT)
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT:g} s"


def _templates() -> str | None:
    for name in TEMPLATE_NAMES:
        try:
            templates.env.get_template(name)  # reloaded when the file changed, as a page would
        except Exception as error:  # not found, unreadable, or no longer valid Jinja
            return f"{name} cannot be loaded ({type(error).__name__})"
    return None


def _static() -> str | None:
    for name in STATIC_FILES:
        try:
            with (Path(STATIC) / name).open("rb") as file:
                file.read(1)
        except OSError as error:
            return f"{name} cannot be read ({type(error).__name__})"
    return None
