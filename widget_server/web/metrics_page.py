"""``GET /metrics``: the figures of widget_server/metrics.py in Prometheus's text format, with what only
the store knows (open chats by contact center and state, the outbox waiting to be sent).

Only for the operator's monitoring: answered to the addresses of ``metrics_networks`` (the machine
itself by default; behind a trusted proxy, the address it reports) or to a request carrying the token
of ``$WIDGET_SERVER_METRICS_TOKEN`` as ``Authorization: Bearer``; anyone else gets 403.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from widget_server.runtime import Runtime
from widget_server.store import StoreFigures

TOKEN_ENV = "WIDGET_SERVER_METRICS_TOKEN"  # noqa: S105 (the variable's name, not a secret)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _StoreCollector:
    """The store's figures of one scrape, as metric families (no Gauge objects: in multi-process mode
    those would be written to the workers' shared files)."""

    def __init__(self, figures: StoreFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        chats = GaugeMetricFamily(
            "widget_chats_open",
            "Chats queued or active, by contact center and state.",
            labels=["backend", "state"],
        )
        for (backend, state), count in sorted(self.figures.open_chats.items()):
            chats.add_metric([backend, state], count)
        yield chats
        yield GaugeMetricFamily(
            "widget_outbox_waiting", "Outbox items not yet sent (Zendesk).", value=self.figures.outbox_waiting
        )
        oldest = self.figures.outbox_oldest
        age = max(0.0, time.time() - oldest / 1000) if oldest is not None else 0.0
        # This process's: what a leak of them would show (python -m bench --soak reads it).
        yield GaugeMetricFamily(
            "widget_asyncio_tasks", "asyncio tasks of this process.", value=len(asyncio.all_tasks())
        )
        yield GaugeMetricFamily(
            "widget_outbox_oldest_age_seconds",
            "How long the oldest waiting outbox item has waited.",
            value=age,
        )


def allowed(request: Request) -> bool:
    runtime: Runtime = request.app.state.runtime
    token = os.environ.get(TOKEN_ENV, "")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    address = request.client.host if request.client else ""
    return runtime.config.metrics_network_set.contains(address)


async def metrics(request: Request) -> Response:
    if not allowed(request):
        return JSONResponse(
            {
                "error": "forbidden",
                "message": "Metrics are for the operator's monitoring: see metrics_networks.",
            },
            status_code=403,
        )
    runtime: Runtime = request.app.state.runtime
    store = CollectorRegistry()
    store.register(_StoreCollector(await runtime.store.figures()))
    if os.environ.get(MULTIPROCESS_ENV):  # several workers: every worker's figures, summed
        process = CollectorRegistry()
        multiprocess.MultiProcessCollector(process)  # type: ignore[no-untyped-call]
    else:
        process = REGISTRY
    body = generate_latest(process) + generate_latest(store)
    # The classic text format: every Prometheus reads it (our names need nothing of the newer one).
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
