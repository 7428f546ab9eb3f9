"""Who the client is, given the socket peer, the proxy headers and which proxies are trusted.

Every proxy in front of us appends the address it received the request from to ``X-Forwarded-For``
and/or ``Forwarded``, so reading those headers from the right, the entries are written by ever less
trusted hands. The walk goes right to left over ``entries + [peer]`` and stops at the first hop that
is not a trusted proxy: that is the client. Everything to its left was written by the client or by
proxies nobody vouches for and is never looked at.

Hops that are not plain addresses are handled so that nobody can choose their own address:

- an obfuscated or ``unknown`` node (RFC 7239 ``for=_hidden``, ``for=unknown``), a ``Forwarded`` element
  without ``for=``, or a ``Forwarded`` field whose quotes do not balance (a quote left open by the client
  would swallow what our proxy appended after it) is a real, untrusted hop whose address we do not
  know: the client is unknown (None);
- an entry that is not an address at all (garbage) stops the walk: a trusted proxy wrote or passed it,
  so the last address that was read successfully, the proxy that handed us the garbage, is the client.
  The garbage itself is never believed.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import Final

from widget_server.access.networks import Address, NetworkSet, parse_address

__all__ = ["client_address"]


class _Hop(enum.Enum):
    UNKNOWN = "a real hop whose address was withheld"
    GARBAGE = "an entry that is not an address"


Hop = Address | _Hop

# RFC 7239 obfuscated identifiers: obfnode and obfport.
_OBFUSCATED: Final = re.compile(r"_[A-Za-z0-9._-]+")
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def client_address(
    peer: str | None, headers: Sequence[tuple[str, str]], trusted_proxies: NetworkSet
) -> str | None:
    """The client's address as normalised text (IPv4-mapped IPv6 as IPv4), or None when unknown.

    ``peer`` is the socket's remote address (None for a Unix socket); ``headers`` are the request's
    header (name, value) pairs, names in any case, values decoded as Latin-1. The headers are read only
    when the peer is a trusted proxy, and then all occurrences of a header count, in order.

    When both ``Forwarded`` and ``X-Forwarded-For`` are present, both are walked and the result is kept
    only if they agree; otherwise None. A proxy that writes only one of them passes the other through
    from the client unchanged, and we cannot tell which one the proxy writes, so trusting either side
    alone would let a client pick its own address; refusing a request we cannot place is the safe side.
    """
    if peer is None:
        return None
    peer_address = parse_address(peer)
    if peer_address is None:
        return None
    if not trusted_proxies.contains(peer_address):
        return str(peer_address)
    forwarded = _header_values(headers, "forwarded")
    x_forwarded_for = _header_values(headers, "x-forwarded-for")
    candidates: list[Address | None] = []
    if forwarded is not None:
        candidates.append(_walk([*_forwarded_hops(forwarded), peer_address], trusted_proxies))
    if x_forwarded_for is not None:
        candidates.append(_walk([*_x_forwarded_for_hops(x_forwarded_for), peer_address], trusted_proxies))
    if not candidates:
        return str(peer_address)
    if any(candidate != candidates[0] for candidate in candidates) or candidates[0] is None:
        return None
    return str(candidates[0])


def _header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str] | None:
    """Every value of the header, in order, or None when it does not occur at all."""
    values = [value for key, value in headers if key.lower() == name]
    return values or None


def _walk(hops: list[Hop], trusted_proxies: NetworkSet) -> Address | None:
    """Right to left: the first hop that is not a trusted proxy; the last hop must be the trusted peer."""
    last_good: Address | None = None
    for hop in reversed(hops):
        if hop is _Hop.UNKNOWN:
            return None
        if hop is _Hop.GARBAGE:
            return last_good
        if not trusted_proxies.contains(hop):
            return hop
        last_good = hop
    # Every hop was a trusted proxy: the leftmost one made the request itself.
    return last_good


def _x_forwarded_for_hops(values: list[str]) -> list[Hop]:
    hops: list[Hop] = []
    for value in values:
        # Empty list elements ("a,,b", a trailing comma) carry nothing and are skipped (RFC 9110 5.6.1).
        hops.extend(_node(entry.strip(" \t")) for entry in value.split(",") if entry.strip(" \t"))
    return hops


def _forwarded_hops(values: list[str]) -> list[Hop]:
    hops: list[Hop] = []
    # Each field line is split on its own, so that a quote the client leaves open on its line cannot
    # reach into the line a proxy added after it.
    for value in values:
        elements = _split_outside_quotes(value, ",")
        if elements is None:
            hops.append(_Hop.UNKNOWN)
            continue
        hops.extend(_forwarded_element(element) for element in elements if element.strip(" \t"))
    return hops


def _forwarded_element(element: str) -> Hop:
    """The ``for=`` node of one RFC 7239 forwarded-element."""
    pairs = _split_outside_quotes(element, ";")
    if pairs is None:
        return _Hop.GARBAGE  # cannot happen after the split on "," balanced the quotes; kept for safety
    node: str | None = None
    for pair in pairs:
        name, equals, value = pair.strip(" \t").partition("=")
        if not equals or not _TOKEN.fullmatch(name):
            return _Hop.GARBAGE
        if name.lower() != "for":
            continue
        unquoted = _unquote(value)
        if node is not None or unquoted is None:
            return _Hop.GARBAGE  # a parameter may occur once per element
        node = unquoted
    return _Hop.UNKNOWN if node is None else _node(node)


def _split_outside_quotes(text: str, separator: str) -> list[str] | None:
    """Split on ``separator`` where it is not inside a quoted-string; None when a quote is left open."""
    parts: list[str] = []
    start = 0
    quoted = escaped = False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:position])
            start = position + 1
    if quoted:
        return None
    parts.append(text[start:])
    return parts


def _unquote(value: str) -> str | None:
    """A parameter value: a token as is, a quoted-string without its quotes and escapes; else None."""
    if not value.startswith('"'):
        # Unquoted values may not contain quotes; other non-token characters (":", "[") are tolerated
        # because some proxies forget to quote IPv6 nodes and the node is validated afterwards anyway.
        return value if value and '"' not in value else None
    if len(value) < 2 or not value.endswith('"'):
        return None
    inner = value[1:-1]
    result: list[str] = []
    escaped = False
    for char in inner:
        if escaped:
            result.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None  # text after the closing quote
        else:
            result.append(char)
    return None if escaped else "".join(result)


def _node(text: str) -> Hop:
    """One hop as written in either header: address, ``address:port``, ``[IPv6]:port``, or a marker."""
    host, port = _split_node(text)
    if port is not None and not _valid_port(port):
        return _Hop.GARBAGE
    if host.lower() == "unknown" or _OBFUSCATED.fullmatch(host):
        return _Hop.UNKNOWN
    address = parse_address(host) if host == host.strip() else None
    return _Hop.GARBAGE if address is None else address


def _split_node(text: str) -> tuple[str, str | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return text, None  # unparseable as a bracketed address: garbage
        host, rest = text[1:end], text[end + 1 :]
        if ":" not in host:
            return text, None  # only IPv6 belongs in brackets
        if not rest:
            return host, None
        return (host, rest[1:]) if rest.startswith(":") else (text, None)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    # No colon, or a bare IPv6 address (X-Forwarded-For writes them unbracketed and without a port).
    return text, None


def _valid_port(port: str) -> bool:
    if _OBFUSCATED.fullmatch(port):
        return True
    return port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535
