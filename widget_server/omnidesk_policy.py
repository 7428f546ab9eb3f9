"""Omnidesk as the source of a site's access policy (issue 7, item 8), and the configuration check of
every Omnidesk site.

A site with ``backend = "omnidesk"`` and ``policy_source = true`` takes its allowed domains and blocked
IPs from Omnidesk instead of its own ``allowed_origins``:

- ``whitelistedDomainsAndBlacklistedIPs`` is synced every ``policy_interval`` seconds (60); the lists
  are kept in the data dir too, so that a restart while Omnidesk is unreachable still has them. A change
  closes the open sockets that the new lists refuse, as an operator's change does.
- Every connect is checked with ``checkOriginAndIP`` (the Origin's host name and the client address);
  the answer counts for ``policy_cache`` seconds (60) per (host, address). Until then, and for open
  sockets and uploads (which are judged without I/O), that cached answer decides.
- Without an answer (Omnidesk unreachable or slow, an answer that cannot be read, an origin host that
  does not fit the request's pattern, such as an IPv6 literal), the last synced lists decide. Without
  those either (never synced, or an empty domain list, which says nothing about origins), the site's
  ``policy_unknown`` decides: ``refuse`` (the default: what cannot be checked is refused, as elsewhere
  in widget_server/access) or ``admit``.
- The site's own ``blocked_ips`` are still refused first, without asking: an operator can always block
  an address here, at once. Its own ``allowed_origins`` are not used.

Operators see where the lists came from through ``OmnideskPolicies.describe(site_id)`` (the runtime's
``omnidesk`` registry): the domains and addresses as Omnidesk gave them, the origin patterns they became,
entries that could not be used, when they were synced and the last sync error.

Every Omnidesk site, policy source or not, is asked ``requestChatConfig`` when it is configured (at
start, and when its settings change), so that a wrong account, token or chatServer shows in the site's
health at once rather than at the first visitor; a failure is retried with backoff.

``AccessLists``, ``OmnideskPolicy`` and ``Verdicts`` are pure (the clock is injected);
``OmnideskPolicies`` is the I/O around them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from widget_server.access import (
    InvalidNetwork,
    InvalidPattern,
    NetworkSet,
    OriginPolicy,
    SitePolicy,
    parse_address,
    parse_origin,
)
from widget_server.access.networks import Address
from widget_server.access.origins import parse_origin_pattern
from widget_server.access.policy import Refusal
from widget_server.adapters import Adapter, BackendError
from widget_server.adapters.omnidesk import ORIGIN_HOST_PATTERN, OmnideskAdapter, hook_site
from widget_server.config import Site

if TYPE_CHECKING:
    from widget_server.sites import SiteDirectory

log = logging.getLogger(__name__)

#: After Omnidesk failed to answer an origin check, connects go by the lists for this long before it is
#: asked again, so that an outage does not hold every handshake for a timeout.
ASK_AGAIN_AFTER = 5.0
MAX_VERDICTS = 10_000


# --- the lists ------------------------------------------------------------------------------------------


def domain_patterns(entry: str) -> list[str]:
    """Our origin patterns for one whitelisted domain. Omnidesk checks a host name only (the origin field
    is "the hostname from the domain"), so any scheme and port of that host: ``acme.example`` gives
    ``https://acme.example:*`` and ``http://acme.example:*``; ``*.acme.example`` its subdomains. Raises
    InvalidPattern (e.g. ``*.com``, which would allow a whole public suffix)."""
    host = entry.strip().lower()
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host)  # a scheme someone typed
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    if host.count(":") == 1:  # a port someone typed (an IPv6 literal has several colons)
        host = host.split(":")[0]
    if not host:
        raise InvalidPattern(entry, "is not a domain")
    patterns = [f"{scheme}://{host}:*" for scheme in ("https", "http")]
    for pattern in patterns:
        parse_origin_pattern(pattern)
    return patterns


def network_entry(entry: str) -> str:
    """One blacklisted IP entry as a network: an address, a CIDR network (host bits allowed), or an IPv4
    address with trailing ``*`` parts (``10.1.*.*``). Raises InvalidNetwork."""
    text = entry.strip()
    wildcard = re.fullmatch(r"((?:\d{1,3}\.){0,3})\*(?:\.\*)*", text)
    if wildcard and text.count(".") <= 3:
        known = [p for p in wildcard.group(1).split(".") if p]
        text = ".".join([*known, *["0"] * (4 - len(known))]) + f"/{8 * len(known)}"
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidNetwork(entry, "is not an IP address or network") from None
    NetworkSet([str(network)])
    return str(network)


@dataclass(frozen=True)
class AccessLists:
    """What whitelistedDomainsAndBlacklistedIPs said, and what it became here."""

    domains: tuple[str, ...]
    blocked_ips: tuple[str, ...]
    synced_at: float  # time.time()
    origin_patterns: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    #: Entries that could not be used, each with why.
    skipped: tuple[str, ...] = ()

    @classmethod
    def build(cls, domains: Iterable[str], blocked_ips: Iterable[str], synced_at: float) -> AccessLists:
        domains, blocked_ips = tuple(domains), tuple(blocked_ips)
        patterns: list[str] = []
        networks: list[str] = []
        skipped: list[str] = []
        for domain in domains:
            try:
                patterns.extend(p for p in domain_patterns(domain) if p not in patterns)
            except InvalidPattern as error:
                skipped.append(f"domain {error}")
        for entry in blocked_ips:
            try:
                networks.append(network_entry(entry))
            except InvalidNetwork as error:
                skipped.append(f"IP {error}")
        return cls(domains, blocked_ips, synced_at, tuple(patterns), tuple(networks), tuple(skipped))

    def same_lists(self, other: AccessLists | None) -> bool:
        return other is not None and (self.domains, self.blocked_ips) == (other.domains, other.blocked_ips)


class Verdicts:
    """checkOriginAndIP's answers per (host, address), each for ``ttl`` seconds: the refusal rule, or None
    for allowed."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._answers: dict[tuple[str, str], tuple[float, str | None]] = {}

    def get(self, host: str, address: Address) -> tuple[bool, str | None]:
        """(known, rule)."""
        key = (host, str(address))
        found = self._answers.get(key)
        if found is None:
            return False, None
        if self.clock() >= found[0]:
            del self._answers[key]
            return False, None
        return True, found[1]

    def put(self, host: str, address: Address, rule: str | None) -> None:
        now = self.clock()
        if len(self._answers) >= MAX_VERDICTS:
            self._answers = {k: v for k, v in self._answers.items() if v[0] > now}
            while len(self._answers) >= MAX_VERDICTS:  # still full: the oldest go first
                del self._answers[next(iter(self._answers))]
        self._answers[(host, str(address))] = (now + self.ttl, rule)

    def clear(self) -> None:
        self._answers.clear()

    def __len__(self) -> int:
        return len(self._answers)


# --- the policy -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OmnideskPolicy(SitePolicy):
    """A policy-source site's ``Site.policy``: judged without I/O, so that the gate (after asking
    Omnidesk), open sockets and uploads all decide alike. ``allowed_origins`` and ``blocked_ips`` are
    the synced lists (empty before the first sync)."""

    own_blocked: NetworkSet
    lists: AccessLists | None
    admit_unknown: bool
    verdicts: Verdicts

    @classmethod
    def build(
        cls, lists: AccessLists | None, own_blocked: Iterable[str], admit_unknown: bool, verdicts: Verdicts
    ) -> OmnideskPolicy:
        return cls(
            allowed_origins=OriginPolicy(lists.origin_patterns if lists else ()),
            blocked_ips=NetworkSet(lists.networks if lists else ()),
            own_blocked=NetworkSet(own_blocked),
            lists=lists,
            admit_unknown=admit_unknown,
            verdicts=verdicts,
        )

    def local_refusal(self, origin_header: str | None, client_ip: str | None) -> str | None:
        """What is refused before anyone is asked: as SitePolicy, with the site's own blocked IPs."""
        if origin_header is None or origin_header.strip(" \t") in ("", "null"):
            return "origin_missing"
        if parse_origin(origin_header) is None:
            return "origin_not_allowed"
        address = None if client_ip is None else parse_address(client_ip)
        if address is None:
            return "ip_unknown"
        if self.own_blocked.contains(address):
            return "ip_blocked"
        return None

    def judge(self, origin_header: str | None, client_ip: str | None) -> str | None:
        """The rule that refuses, by name (``omnidesk_refused``, ``omnidesk_unknown`` besides the usual
        ones), or None."""
        rule = self.local_refusal(origin_header, client_ip)
        if rule is not None:
            return rule
        origin, address = parse_origin(origin_header), parse_address(client_ip or "")
        assert origin is not None and address is not None
        known, verdict = self.verdicts.get(origin.host, address)
        if known:
            return verdict
        if self.lists is not None:
            if self.blocked_ips.contains(address):
                return "ip_blocked"
            if self.lists.domains:
                return None if self.allowed_origins.allows(origin_header) else "origin_not_allowed"
        return None if self.admit_unknown else "omnidesk_unknown"

    def refusal(self, origin_header: str | None, client_ip: str | None) -> Refusal | None:
        rule = self.judge(origin_header, client_ip)
        # Omnidesk's refusal, or an unknown answer refused, in SitePolicy's terms.
        return None if rule is None else _AS_REFUSAL.get(rule, "origin_not_allowed")


_AS_REFUSAL: dict[str, Refusal] = {
    "origin_missing": "origin_missing",
    "origin_not_allowed": "origin_not_allowed",
    "ip_unknown": "ip_unknown",
    "ip_blocked": "ip_blocked",
}


def ip_field(address: Address) -> str:
    """checkOriginAndIP's ``ip`` (at least 5 characters): "::1" goes in its long form."""
    text = str(address)
    return text if len(text) >= 5 else address.exploded


# --- the registry ---------------------------------------------------------------------------------------


@dataclass
class _SiteState:
    verdicts: Verdicts
    lists: AccessLists | None = None
    policy: OmnideskPolicy | None = None
    last_error: str | None = None
    ask_after: float = 0.0
    asking: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict)


class OmnideskPolicies:
    """The Omnidesk sites of this process: their configuration check and, for policy-source sites, their
    lists, their origin checks, and the policy that ``SiteDirectory.get`` gives their ``Site``."""

    def __init__(
        self,
        sites: SiteDirectory,
        adapter_for: Callable[[str], Adapter],
        enforce: Callable[[str, Site | None], int],
        data_dir: Path | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sites = sites
        self.adapter_for = adapter_for
        self.enforce = enforce
        self.data_dir = data_dir
        self.clock = clock
        self._states: dict[str, _SiteState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @staticmethod
    def governs(site: Site) -> bool:
        return site.backend == "omnidesk" and bool(site.backend_settings.get("policy_source"))

    # --- configuration changes ------------------------------------------------------------------------

    def sites_changed(self, site_ids: Iterable[str]) -> None:
        """Sites were added, changed or removed: check them again (and start over their syncs)."""
        for site_id in site_ids:
            task = self._tasks.pop(site_id, None)
            if task is not None:
                task.cancel()
            site = self.sites.get(site_id)
            if site is None or not self.governs(site):
                self._states.pop(site_id, None)
                self.sites.external_policies.pop(site_id, None)
            else:
                state = self._states.get(site_id)
                if state is None:
                    state = self._states[site_id] = _SiteState(Verdicts(60.0, self.clock))
                    state.lists = self._load(site)
                state.verdicts.ttl = float(site.backend_settings.get("policy_cache") or 60)
                state.verdicts.clear()
                self._install(site, state)
            if site is not None and site.backend == "omnidesk":
                self._tasks[site_id] = asyncio.ensure_future(self._run(site_id))

    def _install(self, site: Site, state: _SiteState) -> None:
        state.policy = OmnideskPolicy.build(
            state.lists,
            site.blocked_ips,
            site.backend_settings.get("policy_unknown") == "admit",
            state.verdicts,
        )
        self.sites.external_policies[site.id] = state.policy

    async def close(self) -> None:
        tasks = [*self._tasks.values(), *(t for s in self._states.values() for t in s.asking.values())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    # --- what operators see ---------------------------------------------------------------------------

    def describe(self, site_id: str) -> dict[str, Any] | None:
        """Where a policy-source site's lists came from, for the admin page and API (None: the site
        keeps its own lists)."""
        state = self._states.get(site_id)
        if state is None:
            return None
        lists = state.lists
        policy = state.policy
        return {
            "source": "omnidesk",
            "allowed_domains": list(lists.domains) if lists else [],
            "allowed_origins": list(lists.origin_patterns) if lists else [],
            "blocked_ips": list(lists.blocked_ips) if lists else [],
            "skipped": list(lists.skipped) if lists else [],
            "synced_at": lists.synced_at if lists else None,
            "last_sync_error": state.last_error,
            "policy_unknown": "admit" if policy is not None and policy.admit_unknown else "refuse",
            "origin_checks_cached": len(state.verdicts),
        }

    # --- each connect ---------------------------------------------------------------------------------

    async def refusal(self, site: Site, origin_header: str | None, client_ip: str | None) -> str | None:
        """The gate's question for a policy-source site: asks Omnidesk unless its answer is cached."""
        state = self._states.get(site.id)
        if state is None or state.policy is None:  # changed a moment ago: take it in now
            self.sites_changed([site.id])
            state = self._states.get(site.id)
            if state is None or state.policy is None:
                return site.policy.refusal(origin_header, client_ip)
        rule = state.policy.local_refusal(origin_header, client_ip)
        if rule is not None:
            return rule
        origin, address = parse_origin(origin_header), parse_address(client_ip or "")
        assert origin is not None and address is not None
        known, _ = state.verdicts.get(origin.host, address)
        if not known and self.clock() >= state.ask_after and ORIGIN_HOST_PATTERN.fullmatch(origin.host):
            key = (origin.host, str(address))
            task = state.asking.get(key)
            if task is None:  # connects from the same place at once share one question
                task = state.asking[key] = asyncio.ensure_future(self._ask(site, state, origin.host, address))
                task.add_done_callback(lambda _: state.asking.pop(key, None))
            await asyncio.shield(task)
        assert state.policy is not None
        return state.policy.judge(origin_header, client_ip)

    async def _ask(self, site: Site, state: _SiteState, host: str, address: Address) -> None:
        adapter = self._adapter(site.id)
        if adapter is None:
            return
        try:
            check = await adapter.check_origin_and_ip(host, ip_field(address))
        except BackendError as error:
            state.ask_after = self.clock() + ASK_AGAIN_AFTER
            log.warning(
                "site %s: checkOriginAndIP failed, the synced lists decide: %s", site.id, error.detail
            )
            return
        if check.allowed is None:
            log.warning("site %s: checkOriginAndIP's answer could not be read; the lists decide", site.id)
            return
        state.verdicts.put(host, address, check.refusal)

    def _adapter(self, site_id: str) -> OmnideskAdapter | None:
        try:
            adapter = self.adapter_for(site_id)
        except KeyError:
            return None
        return adapter if isinstance(adapter, OmnideskAdapter) else None

    # --- the background work --------------------------------------------------------------------------

    async def _run(self, site_id: str) -> None:
        """requestChatConfig until it succeeds; for a policy source, the lists every interval."""
        configured = False
        backoff = 1.0
        while True:
            site = self.sites.get(site_id)
            adapter = self._adapter(site_id)
            if site is None or adapter is None:
                return
            interval = float(site.backend_settings.get("policy_interval") or 60)
            if not configured:
                configured = await self._configure(site, adapter)
            synced = await self._sync(site, adapter) if self.governs(site) else True
            if configured and not self.governs(site):
                return
            if configured and synced:
                backoff = 1.0
                await asyncio.sleep(interval)
            else:
                await asyncio.sleep(min(backoff, interval))
                backoff = min(backoff * 2, interval)

    async def _configure(self, site: Site, adapter: OmnideskAdapter) -> bool:
        named = hook_site(site.backend_settings["chat_server"])
        if named != site.id:
            log.error(
                "site %s: chat_server names the site %r: Omnidesk's replies would not reach this site",
                site.id,
                named,
            )
        try:
            await adapter.configure()
        except BackendError as error:
            log.warning("site %s: requestChatConfig failed: %s", site.id, error.detail)
            return False
        log.info("site %s: Omnidesk accepted the chat configuration", site.id)
        return True

    async def _sync(self, site: Site, adapter: OmnideskAdapter) -> bool:
        state = self._states.get(site.id)
        if state is None:
            return True
        try:
            domains, addresses = await adapter.access_lists()
        except BackendError as error:
            if state.last_error != error.detail:
                log.warning("site %s: could not sync the lists from Omnidesk: %s", site.id, error.detail)
            state.last_error = error.detail
            return False
        lists = AccessLists.build(domains, addresses, time.time())
        state.last_error = None
        changed = not lists.same_lists(state.lists)
        state.lists = lists
        if changed:
            for problem in lists.skipped:
                log.warning("site %s: an Omnidesk list entry is not used: %s", site.id, problem)
            state.verdicts.clear()
            current = self.sites.get(site.id) or site
            self._install(current, state)
            self._save(site, lists)
            closed = self.enforce(site.id, self.sites.get(site.id))
            log.info(
                "site %s: Omnidesk's lists changed (%d domains, %d blocked); %d sockets closed",
                site.id,
                len(lists.domains),
                len(lists.blocked_ips),
                closed,
            )
        return True

    # --- the lists on disk ----------------------------------------------------------------------------

    def _path(self, site: Site) -> Path | None:
        return None if self.data_dir is None else self.data_dir / "omnidesk" / f"{site.id}.json"

    @staticmethod
    def _account(site: Site) -> str:
        return f"{site.backend_settings['base_url']} {site.backend_settings['chat_account_token']}"

    def _load(self, site: Site) -> AccessLists | None:
        path = self._path(site)
        if path is None or not path.exists():
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("account") != self._account(site):
                return None  # another account's lists
            return AccessLists.build(saved["domains"], saved["blocked_ips"], float(saved["synced_at"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("site %s: the saved Omnidesk lists could not be read: %s", site.id, error)
            return None

    def _save(self, site: Site, lists: AccessLists) -> None:
        path = self._path(site)
        if path is None:
            return
        saved = {
            "account": self._account(site),
            "domains": list(lists.domains),
            "blocked_ips": list(lists.blocked_ips),
            "synced_at": lists.synced_at,
        }
        temporary: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as file:
                temporary = file.name
                json.dump(saved, file)
            os.replace(temporary, path)  # whole or not at all
        except OSError as error:
            log.warning("site %s: could not keep Omnidesk's lists in %s: %s", site.id, path, error)
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
