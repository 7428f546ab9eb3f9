"""IP addresses and networks as operators configure them (``blocked_ips``, ``trusted_proxies``).

IPv4-mapped IPv6 (``::ffff:198.51.100.7``) is the same host as its IPv4 address: a dual-stack socket
reports IPv4 clients that way. Both entries and addresses are therefore reduced to IPv4 whenever they are
mapped, and an IPv4 entry catches a client however its address was written. Other IPv6 forms that embed
IPv4 (6to4, NAT64, the deprecated IPv4-compatible ``::a.b.c.d``) are separate hosts and are left alone,
and an IPv6 entry wider than ``/96`` (``::/0``) matches real IPv6 clients only, not IPv4 ones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = ["InvalidNetwork", "NetworkSet", "parse_address", "parse_network"]

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


class InvalidNetwork(ValueError):
    """A configured address or network that cannot be used; the message is one sentence naming it."""

    def __init__(self, entry: object, problem: str) -> None:
        super().__init__(f"{entry!r} {problem}")
        self.entry = entry
        self.problem = problem


def parse_network(text: str) -> Network:
    """Parse a configured entry: an address (a /32 or /128 network) or a CIDR network, IPv4 or IPv6.

    Surrounding whitespace is ignored. IPv4-mapped IPv6 networks (``::ffff:10.0.0.0/104``) come back as
    their IPv4 equivalent (``10.0.0.0/8``). Raises InvalidNetwork for anything else, and for a network
    with host bits set (``10.0.0.1/8``), naming the network that was probably meant: a silent correction
    could block or trust far more than the operator intended.
    """
    if not isinstance(text, str):
        raise InvalidNetwork(text, "is not a string")
    stripped = text.strip()
    if not stripped:
        raise InvalidNetwork(text, "is empty")
    if "%" in stripped:
        raise InvalidNetwork(text, "has an IPv6 zone id ('%'), which only means something on one machine")
    try:
        return _unmap_network(ipaddress.ip_network(stripped, strict=True))
    except ValueError:
        pass
    try:
        meant = _unmap_network(ipaddress.ip_network(stripped, strict=False))
    except ValueError:
        raise InvalidNetwork(
            text, "is neither an IP address nor a CIDR network such as '10.0.0.0/8'"
        ) from None
    raise InvalidNetwork(text, f"has host bits set; did you mean {str(meant)!r}?")


def parse_address(text: str) -> Address | None:
    """The address in ``text`` (surrounding whitespace ignored), or None; never raises.

    IPv4-mapped IPv6 comes back as IPv4. An IPv6 zone id (``fe80::1%eth0``) gives None: the zone is
    local to one machine, so such an address cannot be compared with configured entries.
    """
    if not isinstance(text, str):
        return None
    stripped = text.strip()
    if "%" in stripped:
        return None
    try:
        return _unmap(ipaddress.ip_address(stripped))
    except ValueError:
        return None


class NetworkSet:
    """A set of networks with a membership test that costs one lookup per distinct prefix length.

    Entries are collapsed and indexed by prefix length, so a test takes at most 33 (IPv4) or 129 (IPv6)
    set lookups whatever the number of entries. An empty set contains nothing.
    """

    __slots__ = ("_index", "networks")

    def __init__(self, entries: Iterable[str] = ()) -> None:
        """Parse every entry now; raises InvalidNetwork naming the first bad one."""
        if isinstance(entries, str):
            # A lone string is an iterable of one-character entries: certainly a caller's mistake.
            raise TypeError("NetworkSet takes a list of entries, not a single string")
        self.networks: tuple[Network, ...] = tuple(parse_network(entry) for entry in entries)
        self._index: dict[int, dict[int, frozenset[int]]] = _build_index(self.networks)

    def contains(self, address: str | Address) -> bool:
        """True when the address is in one of the networks; False for text that is not an address."""
        parsed = parse_address(address) if isinstance(address, str) else _unmap(address)
        if parsed is None:
            return False
        value = int(parsed)
        bits = parsed.max_prefixlen
        by_length = self._index.get(parsed.version, {})
        return any(value >> (bits - prefixlen) in prefixes for prefixlen, prefixes in by_length.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NetworkSet):
            return NotImplemented
        return self._index == other._index

    def __hash__(self) -> int:
        return hash(tuple(sorted((version, len(by_length)) for version, by_length in self._index.items())))

    def __repr__(self) -> str:
        return f"NetworkSet({[str(network) for network in self.networks]!r})"


def _build_index(networks: Iterable[Network]) -> dict[int, dict[int, frozenset[int]]]:
    """IP version -> prefix length -> the network prefixes of that length, as integers."""
    ipv4 = [network for network in networks if isinstance(network, IPv4Network)]
    ipv6 = [network for network in networks if isinstance(network, IPv6Network)]
    # Collapsing first keeps the index small and canonical, so that equal sets compare equal.
    collapsed: list[Network] = [*ipaddress.collapse_addresses(ipv4), *ipaddress.collapse_addresses(ipv6)]
    index: dict[int, dict[int, set[int]]] = {}
    for network in collapsed:
        prefix = int(network.network_address) >> (network.max_prefixlen - network.prefixlen)
        index.setdefault(network.version, {}).setdefault(network.prefixlen, set()).add(prefix)
    return {
        version: {length: frozenset(prefixes) for length, prefixes in by_length.items()}
        for version, by_length in index.items()
    }


def _unmap(address: Address) -> Address:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unmap_network(network: Network) -> Network:
    if isinstance(network, IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return IPv4Network((mapped, network.prefixlen - 96))
    return network
