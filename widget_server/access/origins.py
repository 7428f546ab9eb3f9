"""Origin patterns (what an operator configures) and browser ``Origin`` headers (what a visitor sends).

Both sides are reduced to the same normal form before they are compared, so that matching is plain
equality: scheme lowercase, host lowercase ASCII (IDNA/punycode for international names, one trailing dot
dropped, IPv4 in dotted-quad form, IPv6 compressed and in brackets), port an integer with the scheme's
default filled in.

Patterns are parsed once, when the configuration is loaded, and every mistake is refused there with
``InvalidPattern``; headers are parsed on every connect and never raise: whatever cannot be read as an
origin is simply not allowed.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import idna
from publicsuffixlist import PublicSuffixList

__all__ = [
    "InvalidPattern",
    "Origin",
    "OriginPattern",
    "OriginPolicy",
    "parse_origin",
    "parse_origin_pattern",
]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

# One DNS label as browsers accept it in a host: underscores and edge hyphens occur in the wild and a
# browser will send them, so refusing them would only refuse real sites.
_LABEL: Final = re.compile(r"[a-z0-9_-]{1,63}")

# The URL standard's "ends in a number" rule: such a host is an IPv4 address or invalid, never a name.
_NUMERIC_LABEL: Final = re.compile(r"[0-9]+|0x[0-9a-f]*")

# Characters that end the authority part of a URL; a backslash counts because browsers read it as "/".
_AFTER_AUTHORITY: Final = re.compile(r"[/?#\\]")
_AFTER_AUTHORITY_NAMES: Final = {"/": "a path", "\\": "a path", "?": "a query", "#": "a fragment"}


class InvalidPattern(ValueError):
    """A configured origin pattern that cannot be used; the message is one sentence naming the problem."""

    def __init__(self, pattern: object, problem: str) -> None:
        super().__init__(f"{pattern!r} {problem}")
        self.pattern = pattern
        self.problem = problem


class _Malformed(Exception):
    """Internal: why a text is not an origin; patterns turn it into InvalidPattern, headers into None."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class Origin:
    """A normalised web origin, as a browser's ``Origin`` header names it; ``port`` is always filled in."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{self.host}"
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class OriginPattern:
    """One allowed-origin rule.

    ``host`` is normalised like ``Origin.host``; ``port`` None means any port (``:*``); ``subdomains``
    True (``*.``) means strict subdomains of ``host`` at any depth, never ``host`` itself.
    """

    scheme: str
    host: str
    port: int | None
    subdomains: bool = False

    def matches(self, origin: Origin) -> bool:
        """Exact comparison of two normal forms; no prefix, suffix or case games happen here."""
        if origin.scheme != self.scheme:
            return False
        if self.port is not None and origin.port != self.port:
            return False
        if not self.subdomains:
            return origin.host == self.host
        # The "." in the suffix is what keeps evilacme.example out of *.acme.example; the non-empty
        # prefix is what keeps the bare domain out. IP hosts never end in ".name".
        return origin.host.endswith("." + self.host)

    def __str__(self) -> str:
        host = f"*.{self.host}" if self.subdomains else self.host
        if self.port is None:
            return f"{self.scheme}://{host}:*"
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"


def parse_origin_pattern(text: str) -> OriginPattern:
    """Parse one configured pattern such as ``https://*.acme.example`` or ``http://localhost:*``.

    Accepted: ``http`` or ``https``, ``://``, a host, and an optional ``:port`` or ``:*``. The host is a
    domain name (Unicode names are converted with IDNA/UTS46; uppercase is lowercased; one trailing dot is
    dropped, so ``acme.example.`` is the same pattern as ``acme.example``), an IPv4 address, or an IPv6
    address in brackets; it may start with ``*.`` to mean any subdomain. The default port of the scheme
    means the same as no port. Surrounding whitespace is ignored.

    Raises InvalidPattern for anything else, in particular: a path (even a lone ``/``), query, fragment
    or user name; whitespace inside; ``*`` or ``https://*``; a ``*`` that is not the whole leftmost label;
    ``*.`` before an IP address or before a public suffix (``*.com``, ``*.co.uk``, ``*.github.io``, and
    names under a top-level domain the suffix list does not know, such as ``*.localhost``); an empty
    host; a port outside 1-65535.
    """
    if not isinstance(text, str):
        raise InvalidPattern(text, "is not a string")
    stripped = text.strip()
    if stripped == "*":
        raise InvalidPattern(text, "would allow every site; list the origins that may embed the widget")
    if not stripped:
        raise InvalidPattern(text, "is empty")
    if any(char.isspace() or not char.isprintable() for char in stripped):
        raise InvalidPattern(text, "contains whitespace or a control character")
    try:
        scheme, raw_host, raw_port = _split(stripped)
        host, subdomains = _pattern_host(raw_host)
        # ":*" (any port) is a pattern's privilege; a browser's Origin always names one port.
        port = None if raw_port == "*" else _parse_port(raw_port, scheme)
    except _Malformed as error:
        raise InvalidPattern(text, error.problem) from None
    return OriginPattern(scheme=scheme, host=host, port=port, subdomains=subdomains)


def parse_origin(header: str | None) -> Origin | None:
    """Read a browser ``Origin`` header value; None when it is not exactly one http(s) origin.

    None for a missing or empty header, ``null`` (sandboxed frames, file: pages, some redirects), other
    schemes, anything with a path, query, fragment or user name, a non-ASCII host (browsers always send
    the punycode form), and any malformed text. Never raises: the header is visitor-controlled.
    """
    if not isinstance(header, str):
        return None
    # Only HTTP's own optional whitespace is trimmed; anything else odd means not a browser's Origin.
    text = header.strip(" \t")
    if text in ("", "null") or not text.isascii() or not text.isprintable() or " " in text:
        return None
    try:
        scheme, raw_host, raw_port = _split(text)
        host = _normalise_host(raw_host)
        port = _parse_port(raw_port, scheme)
    except _Malformed:
        return None
    return Origin(scheme=scheme, host=host, port=port)


class OriginPolicy:
    """The set of origins allowed to open a site's widget socket; an empty policy allows nothing."""

    __slots__ = ("patterns",)

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        """Parse every pattern now; raises InvalidPattern naming the first bad one."""
        if isinstance(patterns, str):
            # A lone string is an iterable of one-character patterns: certainly a caller's mistake.
            raise TypeError("OriginPolicy takes a list of patterns, not a single string")
        self.patterns: tuple[OriginPattern, ...] = tuple(parse_origin_pattern(text) for text in patterns)

    def allows(self, origin_header: str | None) -> bool:
        """True when the header names one origin that some pattern matches; False for anything else."""
        origin = parse_origin(origin_header)
        if origin is None:
            return False
        return any(pattern.matches(origin) for pattern in self.patterns)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OriginPolicy):
            return NotImplemented
        return set(self.patterns) == set(other.patterns)

    def __hash__(self) -> int:
        return hash(frozenset(self.patterns))

    def __repr__(self) -> str:
        return f"OriginPolicy({[str(pattern) for pattern in self.patterns]!r})"


def _split(text: str) -> tuple[str, str, str | None]:
    """Split ``scheme://host[:port]`` into its lowercase scheme, raw host and raw port (None if absent)."""
    scheme, separator, authority = text.partition("://")
    if not separator:
        raise _Malformed("is not of the form scheme://host[:port]")
    scheme = scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _Malformed(f"has the scheme {scheme!r}, but only http and https are allowed")
    extra = _AFTER_AUTHORITY.search(authority)
    if extra is not None:
        what = _AFTER_AUTHORITY_NAMES[extra.group()]
        tail = authority[extra.start() :]
        raise _Malformed(f"has {what} ({tail!r}), but an origin is only scheme://host[:port]")
    if "@" in authority:
        raise _Malformed("has a user name before '@', which an origin never has")
    host, port = _split_host_port(authority)
    return scheme, host, port


def _split_host_port(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise _Malformed("has a '[' without the closing ']'")
        host, rest = authority[: end + 1], authority[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise _Malformed(f"has {rest!r} after the IPv6 address where only ':port' may follow")
        return host, rest[1:]
    host, colon, port = authority.partition(":")
    if ":" in port:
        raise _Malformed("has more than one ':', and an IPv6 address must be written in brackets")
    return host, (port if colon else None)


def _parse_port(raw: str | None, scheme: str) -> int:
    """The port number, or the scheme's default when there is none."""
    if raw is None:
        return _DEFAULT_PORTS[scheme]
    if not raw:
        raise _Malformed("has a ':' with no port after it")
    # isascii() matters: isdigit() and int() also accept other scripts' digits, and int() accepts "1_0";
    # the length check comes before int() because int() refuses (raises on) very long digit strings.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 5) or not 1 <= int(raw) <= 65535:
        raise _Malformed(f"has the port {raw!r}, but a port is a number from 1 to 65535")
    return int(raw)


def _pattern_host(raw_host: str) -> tuple[str, bool]:
    """The normalised host of a pattern and whether it had ``*.``; refuses wildcards that reach too far."""
    if raw_host == "*":
        raise _Malformed("would match every site; write '*.' before the site's own domain instead")
    subdomains = raw_host.startswith("*.")
    if subdomains:
        raw_host = raw_host[2:]
        if not raw_host:
            raise _Malformed("has nothing after '*.', where the site's own domain belongs")
    if "*" in raw_host:
        raise _Malformed(
            "has a '*' that is not the whole leftmost label, the only place a wildcard may stand"
        )
    host = _normalise_host(raw_host, unicode_allowed=True)
    _check_punycode(host)
    if subdomains and _is_ip_host(host):
        raise _Malformed("puts '*.' before an IP address, which has no subdomains")
    if subdomains and _public_suffixes().is_public(host):
        raise _Malformed(f"would match every site under the public suffix {host!r}")
    return host, subdomains


def _normalise_host(raw: str, *, unicode_allowed: bool = False) -> str:
    """The comparable form of a host; raises _Malformed when it is not a usable host."""
    if raw.startswith("["):
        return _normalise_ipv6(raw[1:-1])
    if not raw.isascii():
        if not unicode_allowed:
            raise _Malformed("has a non-ASCII host")
        try:
            raw = idna.encode(raw, uts46=True).decode("ascii")
        except idna.IDNAError as error:
            raise _Malformed(f"has a host that is not a valid international domain name ({error})") from None
    host = raw.lower()
    # "acme.example." names the same DNS node as "acme.example"; only one dot, so ".." stays invalid.
    host = host.removesuffix(".")
    if not host:
        raise _Malformed("has an empty host")
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _Malformed(f"has the host {host!r}, which is not a valid host name")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise _Malformed(
                f"has the host {host!r}, which ends in a number but is not an IPv4 address"
            ) from None
    return host


def _normalise_ipv6(text: str) -> str:
    if "%" in text:
        raise _Malformed("has an IPv6 zone id ('%'), which only means something on one machine")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        raise _Malformed(f"has {text!r} in brackets, which is not an IPv6 address") from None
    return f"[{address.compressed}]"


def _check_punycode(host: str) -> None:
    """Refuse ``xn--`` labels that do not decode: such a pattern could never match a browser's origin."""
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError:
                raise _Malformed(f"has the label {label!r}, which is not valid punycode") from None


def _is_ip_host(host: str) -> bool:
    return host.startswith("[") or bool(_NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]))


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    # Reading and indexing the list bundled with the package takes ~50 ms, so it is done once per
    # process; the object is never modified afterwards. accept_unknown=True: a top-level domain the
    # bundled list does not know yet (a new gTLD, or "localhost") counts as public, the safe mistake.
    return PublicSuffixList(accept_unknown=True)
