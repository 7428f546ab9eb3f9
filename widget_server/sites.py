"""Where sites come from: the configuration file (provisioned, read-only) and the database (editable).

Every change of a stored site increases the database's sites version. ``refresh()`` compares it with
the version this process last loaded, so a change made by any process sharing the database (another
server, the CLI) is seen by the next refresh: the gate refreshes before every handshake, and the runtime
every second, to close sockets that a change no longer admits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping

from widget_server.access import SitePolicy
from widget_server.config import Site, site_from_mapping
from widget_server.settings_table import ConfigError
from widget_server.store import Store

log = logging.getLogger(__name__)


class SiteDirectory:
    def __init__(self, provisioned: Mapping[str, Site], store: Store) -> None:
        self.provisioned = dict(provisioned)
        self.store = store
        self.stored: dict[str, Site] = {}
        #: Stored sites that no longer pass the checks (edited by hand, or after an upgrade): id -> problem.
        self.broken: dict[str, str] = {}
        self.version = -1
        self._lock = asyncio.Lock()
        #: Access policies that come from elsewhere than the site's own lists, by site id: an Omnidesk site
        #: with ``policy_source = true`` (widget_server/omnidesk_policy.py). ``get`` gives those sites this
        #: policy, so that the gate, open sockets and uploads judge them alike.
        self.external_policies: dict[str, SitePolicy] = {}
        self._with_external: dict[str, tuple[Site, SitePolicy, Site]] = {}

    def get(self, site_id: str) -> Site | None:
        site = self.provisioned.get(site_id) or self.stored.get(site_id)
        policy = self.external_policies.get(site_id)
        if site is None or policy is None:
            return site
        cached = self._with_external.get(site_id)
        if cached is None or cached[0] is not site or cached[1] is not policy:
            copy = dataclasses.replace(site)
            object.__setattr__(copy, "policy", policy)  # Site is frozen; policy is derived, not compared
            cached = self._with_external[site_id] = (site, policy, copy)
        return cached[2]

    def all(self) -> list[Site]:
        merged = {**self.stored, **self.provisioned}
        return sorted(merged.values(), key=lambda site: site.id)

    async def refresh(self) -> set[str]:
        """Reload the stored sites if the database says they changed; return the ids that changed."""
        version = await self.store.sites_version()
        if version == self.version:
            return set()
        async with self._lock:
            version = await self.store.sites_version()
            if version == self.version:
                return set()
            loaded: dict[str, Site] = {}
            broken: dict[str, str] = {}
            for record in await self.store.list_sites():
                if record.id in self.provisioned:
                    continue  # the file wins: a provisioned id is never taken from the database
                try:
                    loaded[record.id] = site_from_mapping(record.id, record.settings)
                except ConfigError as error:
                    broken[record.id] = str(error)
                    if record.id not in self.broken:
                        log.error("stored site %s is not valid and is not served: %s", record.id, error)
            changed = {
                site_id
                for site_id in set(loaded) | set(self.stored)
                if loaded.get(site_id) != self.stored.get(site_id)
            }
            self.stored, self.broken, self.version = loaded, broken, version
            return changed
