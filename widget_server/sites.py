"""Where sites come from: the configuration file (provisioned, read-only) and the database (editable)."""

from __future__ import annotations

from collections.abc import Mapping

from widget_server.config import Site


class SiteDirectory:
    def __init__(self, provisioned: Mapping[str, Site]) -> None:
        self._sites = dict(provisioned)

    def get(self, site_id: str) -> Site | None:
        return self._sites.get(site_id)

    def all(self) -> list[Site]:
        return sorted(self._sites.values(), key=lambda site: site.id)
