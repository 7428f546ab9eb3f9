"""A site's access policy: which origins may embed its widget and which client addresses are refused."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from widget_server.access.networks import NetworkSet, parse_address
from widget_server.access.origins import OriginPolicy

__all__ = ["Refusal", "SitePolicy"]

Refusal = Literal["origin_missing", "origin_not_allowed", "ip_unknown", "ip_blocked"]


@dataclass(frozen=True)
class SitePolicy:
    """The rules one site applies to every connect, and again to open connections when they change."""

    allowed_origins: OriginPolicy
    blocked_ips: NetworkSet

    @classmethod
    def from_lists(cls, allowed_origins: Iterable[str], blocked_ips: Iterable[str]) -> SitePolicy:
        """Build from configured text; raises InvalidPattern or InvalidNetwork naming the bad entry."""
        return cls(allowed_origins=OriginPolicy(allowed_origins), blocked_ips=NetworkSet(blocked_ips))

    def refusal(self, origin_header: str | None, client_ip: str | None) -> Refusal | None:
        """None when the connection may proceed, else the name of the first rule that refuses it.

        Rules in order, as the gate describes them: ``origin_missing`` (no Origin, empty, or ``null``),
        ``origin_not_allowed`` (malformed, or matched by no pattern), ``ip_unknown`` (the client address
        could not be determined: no peer, an unparseable one, or proxy headers that do not name one),
        ``ip_blocked``. ``ip_unknown`` refuses even when nothing is blocked, so that a proxy
        misconfiguration shows up at once rather than on the day the first address is blocked.
        """
        if origin_header is None or origin_header.strip(" \t") in ("", "null"):
            return "origin_missing"
        if not self.allowed_origins.allows(origin_header):
            return "origin_not_allowed"
        address = None if client_ip is None else parse_address(client_ip)
        if address is None:
            return "ip_unknown"
        if self.blocked_ips.contains(address):
            return "ip_blocked"
        return None
