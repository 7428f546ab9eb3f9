"""Addresses, networks and NetworkSet membership, IPv4 and IPv6, including IPv4-mapped IPv6."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import pytest

from widget_server.access import InvalidNetwork, NetworkSet, parse_address, parse_network

# (entry, expected network)
VALID_NETWORKS = [
    ("10.0.0.1", IPv4Network("10.0.0.1/32")),
    ("10.0.0.0/8", IPv4Network("10.0.0.0/8")),
    ("0.0.0.0/0", IPv4Network("0.0.0.0/0")),
    (" 198.51.100.0/24 ", IPv4Network("198.51.100.0/24")),
    ("10.0.0.0/255.0.0.0", IPv4Network("10.0.0.0/8")),
    ("2001:db8::1", IPv6Network("2001:db8::1/128")),
    ("2001:db8::/32", IPv6Network("2001:db8::/32")),
    ("2001:DB8::/32", IPv6Network("2001:db8::/32")),
    ("::ffff:10.0.0.0/104", IPv4Network("10.0.0.0/8")),
    ("::ffff:198.51.100.7", IPv4Network("198.51.100.7/32")),
    ("::ffff:0:0/96", IPv4Network("0.0.0.0/0")),
    ("::/0", IPv6Network("::/0")),
    ("::10.0.0.1", IPv6Network("::a00:1/128")),
]


@pytest.mark.parametrize(("text", "expected"), VALID_NETWORKS, ids=[text for text, _ in VALID_NETWORKS])
def test_parse_network(text: str, expected: IPv4Network | IPv6Network) -> None:
    assert parse_network(text) == expected


# (entry, piece of the message)
INVALID_NETWORKS = [
    ("10.0.0.1/8", "did you mean '10.0.0.0/8'?"),
    ("198.51.100.7/24", "did you mean '198.51.100.0/24'?"),
    ("2001:db8::1/32", "did you mean '2001:db8::/32'?"),
    ("::ffff:10.0.0.1/104", "did you mean '10.0.0.0/8'?"),
    ("10.0.0.0/33", "neither"),
    ("10.0.0.0/-1", "neither"),
    ("10.0.0.256", "neither"),
    ("010.0.0.1", "neither"),
    ("10.0.0", "neither"),
    ("10.0.0.0/8/8", "neither"),
    ("example.com", "neither"),
    ("10.0.0.0 /8", "neither"),
    ("\u0661\u0660.0.0.1", "neither"),  # Arabic-Indic digits
    ("fe80::1%eth0", "zone id"),
    ("", "is empty"),
    ("*", "neither"),
]


@pytest.mark.parametrize(("text", "problem"), INVALID_NETWORKS, ids=[text for text, _ in INVALID_NETWORKS])
def test_invalid_network_is_refused_with_a_sentence_naming_it(text: str, problem: str) -> None:
    with pytest.raises(InvalidNetwork) as caught:
        parse_network(text)
    assert str(caught.value).startswith(repr(text))
    assert problem in str(caught.value)
    assert caught.value.entry == text


def test_invalid_network_message_reads_as_documented() -> None:
    with pytest.raises(InvalidNetwork) as caught:
        parse_network("10.0.0.1/8")
    assert str(caught.value) == "'10.0.0.1/8' has host bits set; did you mean '10.0.0.0/8'?"


# (text, expected address)
ADDRESSES: list[tuple[str, IPv4Address | IPv6Address | None]] = [
    ("198.51.100.7", IPv4Address("198.51.100.7")),
    (" 198.51.100.7\t", IPv4Address("198.51.100.7")),
    ("2001:db8::1", IPv6Address("2001:db8::1")),
    ("2001:DB8:0:0:0:0:0:1", IPv6Address("2001:db8::1")),
    ("::ffff:198.51.100.7", IPv4Address("198.51.100.7")),
    ("::ffff:c633:6407", IPv4Address("198.51.100.7")),
    ("::1", IPv6Address("::1")),
    ("fe80::1%eth0", None),
    ("fe80::1%1", None),
    ("[2001:db8::1]", None),
    ("198.51.100.7:4711", None),
    ("198.51.100.0/24", None),
    ("010.0.0.1", None),
    ("1.2.3", None),
    ("unknown", None),
    ("", None),
    ("\x00", None),
]


@pytest.mark.parametrize(("text", "expected"), ADDRESSES, ids=[repr(text) for text, _ in ADDRESSES])
def test_parse_address(text: str, expected: IPv4Address | IPv6Address | None) -> None:
    assert parse_address(text) == expected


def test_parse_address_never_raises_on_random_input() -> None:
    rng = random.Random(7)
    alphabet = "0123456789abcdefABCDEF:.%/[] x\u0661\x00"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 45)))
        result = parse_address(text)
        assert result is None or isinstance(result, IPv4Address | IPv6Address)


BLOCKED = ["10.0.0.1", "198.51.100.0/24", "2001:db8::/32", "::ffff:203.0.113.0/120", "192.0.2.128/25"]

# (address, contained?)
MEMBERSHIP: list[tuple[str | IPv4Address | IPv6Address, bool]] = [
    ("10.0.0.1", True),
    ("110.0.0.15", False),
    ("10.0.0.10", False),
    ("10.0.0.0", False),
    ("10.0.0.2", False),
    ("::ffff:10.0.0.1", True),
    ("198.51.100.7", True),
    ("198.51.100.255", True),
    ("198.51.101.0", False),
    ("::ffff:198.51.100.7", True),
    ("2001:db8::1", True),
    ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", True),
    ("2001:db9::1", False),
    ("203.0.113.9", True),
    ("::ffff:203.0.113.9", True),
    ("192.0.2.127", False),
    ("192.0.2.128", True),
    ("::c633:6407", False),
    ("::1", False),
    (IPv4Address("198.51.100.7"), True),
    (IPv6Address("::ffff:198.51.100.7"), True),
    (IPv6Address("2001:db8::5"), True),
    ("fe80::1%eth0", False),
    ("garbage", False),
    ("", False),
]


@pytest.mark.parametrize(("address", "expected"), MEMBERSHIP, ids=[repr(a) for a, _ in MEMBERSHIP])
def test_network_set_contains(address: str | IPv4Address | IPv6Address, expected: bool) -> None:
    assert NetworkSet(BLOCKED).contains(address) is expected


def test_empty_set_contains_nothing() -> None:
    assert not NetworkSet().contains("127.0.0.1")
    assert not NetworkSet([]).contains("::1")


def test_ipv6_catch_all_does_not_catch_ipv4_clients() -> None:
    everything_v6 = NetworkSet(["::/0"])
    assert everything_v6.contains("2001:db8::1")
    assert not everything_v6.contains("::ffff:198.51.100.7")


def test_network_set_names_the_bad_entry() -> None:
    with pytest.raises(InvalidNetwork, match=r"^'10\.0\.0\.1/8' "):
        NetworkSet(["192.0.2.0/24", "10.0.0.1/8"])


def test_network_set_refuses_a_single_string() -> None:
    with pytest.raises(TypeError):
        NetworkSet("10.0.0.0/8")


def test_network_set_compares_by_what_it_contains() -> None:
    assert NetworkSet(["10.0.0.0/25", "10.0.0.128/25"]) == NetworkSet(["10.0.0.0/24"])
    assert NetworkSet(["10.0.0.0/24"]) != NetworkSet(["10.0.0.0/25"])
    assert NetworkSet(["10.0.0.1", "::1"]).networks == (IPv4Network("10.0.0.1/32"), IPv6Network("::1/128"))


def test_large_set_agrees_with_a_linear_scan() -> None:
    rng = random.Random(42)
    entries: list[IPv4Network | IPv6Network] = []
    for _ in range(2000):
        if rng.random() < 0.5:
            entries.append(ip_network((rng.getrandbits(32), rng.randint(8, 32)), strict=False))
        else:
            entries.append(ip_network((rng.getrandbits(128), rng.randint(16, 128)), strict=False))
    networks = NetworkSet(str(entry) for entry in entries)
    probes = [ip_address(rng.getrandbits(32)) for _ in range(400)]
    probes += [ip_address(rng.getrandbits(128)) for _ in range(400)]
    # Probe the last address of some entries too, so that both answers occur.
    probes += [entry.broadcast_address for entry in entries[:200]]
    # The linear reference compares integer ranges: the same answer as "in", fast enough for a table.
    ranges = [(e.version, int(e.network_address), int(e.broadcast_address)) for e in entries]
    for probe in probes:
        value = int(probe)
        expected = any(v == probe.version and low <= value <= high for v, low, high in ranges)
        assert networks.contains(probe) is expected, probe
