"""The HTTP edge the contact-center adapters share: one request and what came back, the ``Retry-After``
header, and the check of a ``base_url`` setting. What an answer means stays in each adapter (GWS's
``statusCode``, HelpCrunch's ``errors``, Omnidesk's ``error`` fields); how a request is made and how a
broken connection is told apart from a refusal is the same for all three, and lives here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from widget_server.adapters import BackendUnavailable
from widget_server.settings_table import http_url


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    retry_after: float | None  # seconds, from Retry-After; None when absent or not a number

    def json(self, *, empty: Any = None) -> Any:
        """The body as JSON; ``empty`` for an empty body; None when it is not JSON."""
        if not self.body.strip():
            return empty
        try:
            return json.loads(self.body)
        except ValueError:
            return None


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    where: str,
    ambiguous: bool,
    headers: dict[str, str],
    timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's own, per request)
    data: Any = None,
    params: Any = None,
) -> Answer:
    """One request, never following a redirect. A timeout, a refused connection or a broken answer is a
    ``BackendUnavailable`` named by ``where``; ``ambiguous`` says whether the request may have been carried
    out all the same (a write that timed out), which a connection never made cannot have been."""
    try:
        async with session.request(
            method, url, data=data, params=params, headers=headers, timeout=timeout, allow_redirects=False
        ) as response:
            body = await response.read()
            return Answer(response.status, body, retry_after(response.headers.get("Retry-After")))
    except TimeoutError:
        raise BackendUnavailable(f"{where}: timed out", ambiguous=ambiguous) from None
    except aiohttp.ClientConnectorError as error:
        raise BackendUnavailable(f"{where}: cannot connect ({error.os_error})") from None
    except aiohttp.ClientError as error:
        raise BackendUnavailable(f"{where}: {error!r}", ambiguous=ambiguous) from None


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds. An HTTP date (rare for APIs) or nonsense is None: the caller's own
    backoff applies."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def plain_base_url(value: str, why: str) -> str | None:
    """The problem with a ``base_url`` setting, or None: an http(s) URL with no user name, password,
    query or fragment (``why`` says what to do instead, in the adapter's words)."""
    problem = http_url(value)
    if problem:
        return problem
    parts = urlsplit(value)
    if parts.username or parts.password or parts.query or parts.fragment:
        return why
    return None
