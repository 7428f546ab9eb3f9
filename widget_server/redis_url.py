"""Redis URLs as the configuration names them: redis-py's URL, plus ``prefix``, a namespace for every
key and channel this deployment uses (so that several deployments, or tests, can share one Redis).

``redis://[:password@]host:port/db?prefix=acme:`` → ``(redis-py's URL without prefix, "acme:")``. The
default prefix is ``widget:``. A password belongs in the environment (``WIDGET_SERVER_BUS`` holds the
whole URL), never in the configuration file.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

DEFAULT_PREFIX = "widget:"


def split_prefix(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for name, value in query if name == "prefix"]
    rest = [(name, value) for name, value in query if name != "prefix"]
    return urlunsplit(parts._replace(query=urlencode(rest))), prefixes[-1] if prefixes else DEFAULT_PREFIX
