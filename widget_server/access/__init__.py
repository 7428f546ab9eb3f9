"""The access policy: pure functions and values, no I/O, deciding who may open a site's widget socket.

- ``origins``: origin patterns an operator configures and the browser ``Origin`` header they are
  matched against (``OriginPolicy.allows``).
- ``networks``: addresses and networks for ``blocked_ips`` and ``trusted_proxies`` (``NetworkSet``).
- ``client_address``: the client's address from the socket peer and the proxy headers.
- ``policy``: ``SitePolicy.refusal``, the one question the gate asks.

Errors: configuration mistakes raise ``InvalidPattern`` or ``InvalidNetwork``, both ``ValueError``
subclasses whose message is one sentence that names the bad entry. Visitor-controlled input (headers,
peer addresses) never raises: what cannot be read is refused.
"""

from __future__ import annotations

from widget_server.access.client_address import client_address
from widget_server.access.networks import InvalidNetwork, NetworkSet, parse_address, parse_network
from widget_server.access.origins import (
    InvalidPattern,
    Origin,
    OriginPattern,
    OriginPolicy,
    parse_origin,
    parse_origin_pattern,
)
from widget_server.access.policy import Refusal, SitePolicy

__all__ = [
    "InvalidNetwork",
    "InvalidPattern",
    "NetworkSet",
    "Origin",
    "OriginPattern",
    "OriginPolicy",
    "Refusal",
    "SitePolicy",
    "client_address",
    "parse_address",
    "parse_network",
    "parse_origin",
    "parse_origin_pattern",
]
