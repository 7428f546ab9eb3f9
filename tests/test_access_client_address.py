"""client_address: the socket peer, X-Forwarded-For and Forwarded, read right to left past trusted proxies."""

from __future__ import annotations

import random

import pytest

from widget_server.access import NetworkSet, client_address

TRUSTED = NetworkSet(["10.0.0.0/8", "2001:db8:ffff::/48"])

PROXY = "10.0.0.2"
OTHER_PROXY = "10.1.1.1"
CLIENT = "198.51.100.7"

Headers = list[tuple[str, str]]

# (id, peer, headers, expected client)
CASES: list[tuple[str, str | None, Headers, str | None]] = [
    # The peer alone.
    ("untrusted peer, no headers", CLIENT, [], CLIENT),
    ("trusted peer, no headers", PROXY, [], PROXY),
    ("no peer (unix socket)", None, [], None),
    ("unparseable peer", "not-an-ip", [], None),
    ("peer with zone id", "fe80::1%eth0", [], None),
    ("ipv4-mapped peer", "::ffff:198.51.100.7", [], CLIENT),
    ("ipv6 peer normalised", "2001:DB8:0::1", [], "2001:db8::1"),
    # Headers from an untrusted peer are ignored entirely.
    ("forged xff from untrusted peer", CLIENT, [("X-Forwarded-For", "203.0.113.9")], CLIENT),
    ("forged forwarded from untrusted peer", CLIENT, [("Forwarded", "for=203.0.113.9")], CLIENT),
    ("trusted-looking xff from untrusted peer", CLIENT, [("X-Forwarded-For", PROXY)], CLIENT),
    # X-Forwarded-For from a trusted peer.
    ("xff one hop", PROXY, [("X-Forwarded-For", CLIENT)], CLIENT),
    ("xff header name in any case", PROXY, [("x-forwarded-for", CLIENT)], CLIENT),
    ("xff forged leftmost", PROXY, [("X-Forwarded-For", f"203.0.113.9, {CLIENT}")], CLIENT),
    ("xff forged trusted leftmost", PROXY, [("X-Forwarded-For", f"10.9.9.9, {CLIENT}")], CLIENT),
    (
        "xff several trusted proxies",
        PROXY,
        [("X-Forwarded-For", f"{CLIENT}, 10.3.3.3, {OTHER_PROXY}")],
        CLIENT,
    ),
    ("xff all trusted: leftmost", PROXY, [("X-Forwarded-For", f"10.5.5.5, {OTHER_PROXY}")], "10.5.5.5"),
    (
        "xff two occurrences joined in order",
        PROXY,
        [("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", f"{CLIENT}, {OTHER_PROXY}")],
        CLIENT,
    ),
    ("xff empty elements skipped", PROXY, [("X-Forwarded-For", f" , {CLIENT},, ")], CLIENT),
    ("xff empty header", PROXY, [("X-Forwarded-For", "")], PROXY),
    ("xff ipv4 with port", PROXY, [("X-Forwarded-For", f"{CLIENT}:4711")], CLIENT),
    ("xff bare ipv6", PROXY, [("X-Forwarded-For", "2001:db8::1")], "2001:db8::1"),
    ("xff bracketed ipv6 with port", PROXY, [("X-Forwarded-For", "[2001:db8::1]:4711")], "2001:db8::1"),
    ("xff ipv4-mapped", PROXY, [("X-Forwarded-For", "::ffff:198.51.100.7")], CLIENT),
    ("xff trusted ipv6 proxy skipped", PROXY, [("X-Forwarded-For", f"{CLIENT}, 2001:db8:ffff::5")], CLIENT),
    ("xff garbage rightmost: the proxy", PROXY, [("X-Forwarded-For", "garbage")], PROXY),
    ("xff garbage behind trusted hop", PROXY, [("X-Forwarded-For", f"garbage, {OTHER_PROXY}")], OTHER_PROXY),
    ("xff garbage left of client ignored", PROXY, [("X-Forwarded-For", f"garbage, {CLIENT}")], CLIENT),
    ("xff host name is garbage", PROXY, [("X-Forwarded-For", "evil.example")], PROXY),
    ("xff bad port is garbage", PROXY, [("X-Forwarded-For", f"{CLIENT}:99999")], PROXY),
    ("xff zone id is garbage", PROXY, [("X-Forwarded-For", "fe80::1%eth0")], PROXY),
    ("xff cidr is garbage", PROXY, [("X-Forwarded-For", "198.51.100.0/24")], PROXY),
    ("xff unknown", PROXY, [("X-Forwarded-For", "unknown")], None),
    ("xff unknown behind trusted hop", PROXY, [("X-Forwarded-For", f"unknown, {OTHER_PROXY}")], None),
    ("xff unknown left of client ignored", PROXY, [("X-Forwarded-For", f"unknown, {CLIENT}")], CLIENT),
    # RFC 7239 Forwarded from a trusted peer.
    ("fwd one hop", PROXY, [("Forwarded", f"for={CLIENT}")], CLIENT),
    ("fwd name and parameter in any case", PROXY, [("FORWARDED", f"For={CLIENT}")], CLIENT),
    ("fwd quoted ipv6 with port", PROXY, [("Forwarded", 'for="[2001:db8::1]:4711"')], "2001:db8::1"),
    ("fwd quoted ipv4 with port", PROXY, [("Forwarded", f'for="{CLIENT}:4711"')], CLIENT),
    ("fwd unquoted ipv6 tolerated", PROXY, [("Forwarded", "for=[2001:db8::1]")], "2001:db8::1"),
    ("fwd other parameters", PROXY, [("Forwarded", f"proto=https;for={CLIENT};by={PROXY};host=a.b")], CLIENT),
    (
        "fwd several elements",
        PROXY,
        [("Forwarded", f"for=203.0.113.9, for={CLIENT};proto=https, for={OTHER_PROXY}")],
        CLIENT,
    ),
    (
        "fwd quoted comma does not split",
        PROXY,
        [("Forwarded", f'for={CLIENT};host="a, for=203.0.113.9"')],
        CLIENT,
    ),
    (
        "fwd two occurrences",
        PROXY,
        [("Forwarded", "for=203.0.113.9"), ("Forwarded", f"for={CLIENT}")],
        CLIENT,
    ),
    ("fwd obfuscated node", PROXY, [("Forwarded", "for=_hidden")], None),
    ("fwd obfuscated port keeps address", PROXY, [("Forwarded", f'for="{CLIENT}:_abc"')], CLIENT),
    ("fwd unknown", PROXY, [("Forwarded", "for=unknown")], None),
    ("fwd unknown left of client ignored", PROXY, [("Forwarded", f"for=unknown, for={CLIENT}")], CLIENT),
    ("fwd element without for", PROXY, [("Forwarded", "proto=https")], None),
    ("fwd garbage value", PROXY, [("Forwarded", "for=evil.example")], PROXY),
    ("fwd bracketed ipv4 is garbage", PROXY, [("Forwarded", f'for="[{CLIENT}]"')], PROXY),
    ("fwd duplicate for is garbage", PROXY, [("Forwarded", f"for={CLIENT};for=203.0.113.9")], PROXY),
    ("fwd pair without '=' is garbage", PROXY, [("Forwarded", f"for={CLIENT};secure")], PROXY),
    ("fwd text after quote is garbage", PROXY, [("Forwarded", f'for="{CLIENT}"x')], PROXY),
    (
        "fwd open quote from client cannot swallow proxy entry",
        PROXY,
        [("Forwarded", f'for="203.0.113.9, for={CLIENT}')],
        None,
    ),
    (
        "fwd open quote on the client's own line stays there",
        PROXY,
        [("Forwarded", 'for="203.0.113.9'), ("Forwarded", f"for={CLIENT}")],
        CLIENT,
    ),
    ("fwd escaped quote stays quoted", PROXY, [("Forwarded", f'host="a\\"b", for={CLIENT}')], CLIENT),
    ("fwd all trusted: leftmost", PROXY, [("Forwarded", f"for=10.5.5.5, for={OTHER_PROXY}")], "10.5.5.5"),
    # Both headers: only an agreement is believed.
    (
        "both agree",
        PROXY,
        [("X-Forwarded-For", CLIENT), ("Forwarded", f"for={CLIENT}")],
        CLIENT,
    ),
    (
        "both agree past trusted hops",
        PROXY,
        [
            ("X-Forwarded-For", f"{CLIENT}, {OTHER_PROXY}"),
            ("Forwarded", f'for={CLIENT}, for="{OTHER_PROXY}"'),
        ],
        CLIENT,
    ),
    (
        "client-sent forwarded passed through an xff proxy",
        PROXY,
        [("Forwarded", "for=203.0.113.9"), ("X-Forwarded-For", CLIENT)],
        None,
    ),
    (
        "client-sent xff passed through a forwarded proxy",
        PROXY,
        [("X-Forwarded-For", "203.0.113.9"), ("Forwarded", f"for={CLIENT}")],
        None,
    ),
    ("client-sent empty forwarded", PROXY, [("Forwarded", ""), ("X-Forwarded-For", CLIENT)], None),
]


@pytest.mark.parametrize(("peer", "headers", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_client_address(peer: str | None, headers: Headers, expected: str | None) -> None:
    assert client_address(peer, headers, TRUSTED) == expected


def test_unrelated_headers_are_ignored() -> None:
    headers = [("Host", "chat.example"), ("X-Real-IP", "203.0.113.9"), ("X-Forwarded-For", CLIENT)]
    assert client_address(PROXY, headers, TRUSTED) == CLIENT


def test_no_trusted_proxies_means_the_peer_is_the_client() -> None:
    headers = [("X-Forwarded-For", "203.0.113.9"), ("Forwarded", "for=203.0.113.9")]
    assert client_address(PROXY, headers, NetworkSet()) == PROXY


def test_never_raises_and_never_returns_a_forged_address() -> None:
    rng = random.Random(99)
    alphabet = ' ,;="[]:_\\%.abcdefor0123456789unknown'
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        name = rng.choice(["Forwarded", "X-Forwarded-For"])
        # A trusted proxy appends the real client, so whatever came before it must not win.
        appended = f'{value}, for="{CLIENT}"' if name == "Forwarded" else f"{value}, {CLIENT}"
        assert client_address(PROXY, [(name, appended)], TRUSTED) in (CLIENT, None)
        assert client_address(PROXY, [(name, value), (name, appended[len(value) :])], TRUSTED) in (
            CLIENT,
            None,
        )
