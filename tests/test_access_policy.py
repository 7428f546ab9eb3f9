"""SitePolicy.refusal: the gate's one question, answered with the name of the rule that refuses."""

from __future__ import annotations

import pytest

from widget_server.access import InvalidNetwork, InvalidPattern, NetworkSet, OriginPolicy, SitePolicy

ACME = SitePolicy.from_lists(
    allowed_origins=["https://acme.example", "https://*.acme.example", "http://localhost:*"],
    blocked_ips=["198.51.100.0/24", "2001:db8::/32", "10.0.0.1"],
)

# (id, Origin header, client address, refusal)
CASES: list[tuple[str, str | None, str | None, str | None]] = [
    ("allowed", "https://acme.example", "203.0.113.9", None),
    ("allowed subdomain", "https://shop.acme.example", "203.0.113.9", None),
    ("allowed localhost any port", "http://localhost:5173", "127.0.0.1", None),
    ("allowed ipv6 client", "https://acme.example", "2001:db9::1", None),
    ("origin missing", None, "203.0.113.9", "origin_missing"),
    ("origin empty", "", "203.0.113.9", "origin_missing"),
    ("origin null", "null", "203.0.113.9", "origin_missing"),
    ("origin missing beats blocked ip", None, "198.51.100.7", "origin_missing"),
    ("origin foreign", "https://evil.example", "203.0.113.9", "origin_not_allowed"),
    ("origin suffix trick", "https://acme.example.evil.com", "203.0.113.9", "origin_not_allowed"),
    ("origin prefix trick", "https://evilacme.example", "203.0.113.9", "origin_not_allowed"),
    ("origin userinfo trick", "https://acme.example@evil.com", "203.0.113.9", "origin_not_allowed"),
    ("origin wrong scheme", "http://acme.example", "203.0.113.9", "origin_not_allowed"),
    ("origin wrong port", "https://acme.example:444", "203.0.113.9", "origin_not_allowed"),
    ("origin malformed", "https://acme.example/", "203.0.113.9", "origin_not_allowed"),
    ("origin localhost lookalike", "http://localhost.evil.com:80", "203.0.113.9", "origin_not_allowed"),
    ("ip unknown", "https://acme.example", None, "ip_unknown"),
    ("ip garbage", "https://acme.example", "not-an-ip", "ip_unknown"),
    ("ip empty", "https://acme.example", "", "ip_unknown"),
    ("ip with zone id", "https://acme.example", "fe80::1%eth0", "ip_unknown"),
    ("ip blocked network", "https://acme.example", "198.51.100.7", "ip_blocked"),
    ("ip blocked ipv4-mapped", "https://acme.example", "::ffff:198.51.100.7", "ip_blocked"),
    ("ip blocked ipv6", "https://acme.example", "2001:db8::1", "ip_blocked"),
    ("ip blocked single", "https://acme.example", "10.0.0.1", "ip_blocked"),
    ("ip single entry is not a prefix", "https://acme.example", "110.0.0.15", None),
    ("ip neighbour of single entry", "https://acme.example", "10.0.0.2", None),
]


@pytest.mark.parametrize(
    ("origin", "client_ip", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_refusal(origin: str | None, client_ip: str | None, expected: str | None) -> None:
    assert ACME.refusal(origin, client_ip) == expected


def test_unknown_ip_is_refused_even_when_nothing_is_blocked() -> None:
    policy = SitePolicy.from_lists(["https://acme.example"], [])
    assert policy.refusal("https://acme.example", None) == "ip_unknown"
    assert policy.refusal("https://acme.example", "203.0.113.9") is None


def test_empty_policy_allows_no_origin() -> None:
    assert (
        SitePolicy.from_lists([], []).refusal("https://acme.example", "203.0.113.9") == "origin_not_allowed"
    )


def test_from_lists_reports_the_bad_entry() -> None:
    with pytest.raises(InvalidPattern, match="public suffix"):
        SitePolicy.from_lists(["https://*.com"], [])
    with pytest.raises(InvalidNetwork, match=r"did you mean '10\.0\.0\.0/8'"):
        SitePolicy.from_lists([], ["10.0.0.1/8"])


def test_policies_compare_by_their_rules() -> None:
    same = SitePolicy(
        allowed_origins=OriginPolicy(
            ["http://localhost:*", "https://*.acme.example", "https://acme.example:443"]
        ),
        blocked_ips=NetworkSet(["10.0.0.1", "2001:db8::/32", "198.51.100.0/25", "198.51.100.128/25"]),
    )
    assert same == ACME
    assert SitePolicy.from_lists(["https://acme.example"], []) != ACME
