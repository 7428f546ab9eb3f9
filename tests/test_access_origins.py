"""Origin patterns, Origin headers and OriginPolicy: tables of what is allowed and what is refused."""

from __future__ import annotations

import random
import string

import pytest

from widget_server.access import (
    InvalidPattern,
    Origin,
    OriginPattern,
    OriginPolicy,
    parse_origin,
    parse_origin_pattern,
)

# (pattern, expected normal form)
VALID_PATTERNS = [
    ("https://acme.example", OriginPattern("https", "acme.example", 443)),
    ("https://acme.example:8443", OriginPattern("https", "acme.example", 8443)),
    ("https://acme.example:443", OriginPattern("https", "acme.example", 443)),
    ("http://acme.example:80", OriginPattern("http", "acme.example", 80)),
    ("https://*.acme.example", OriginPattern("https", "acme.example", 443, subdomains=True)),
    ("https://*.acme.example:*", OriginPattern("https", "acme.example", None, subdomains=True)),
    ("http://localhost:*", OriginPattern("http", "localhost", None)),
    ("http://127.0.0.1:*", OriginPattern("http", "127.0.0.1", None)),
    ("http://[::1]:3000", OriginPattern("http", "[::1]", 3000)),
    ("http://[0:0:0:0:0:0:0:1]", OriginPattern("http", "[::1]", 80)),
    ("HTTPS://ACME.Example", OriginPattern("https", "acme.example", 443)),
    ("https://acme.example.", OriginPattern("https", "acme.example", 443)),
    ("  https://acme.example\n", OriginPattern("https", "acme.example", 443)),
    ("https://bücher.example", OriginPattern("https", "xn--bcher-kva.example", 443)),
    ("https://BÜCHER.example", OriginPattern("https", "xn--bcher-kva.example", 443)),
    ("https://xn--bcher-kva.example", OriginPattern("https", "xn--bcher-kva.example", 443)),
    ("https://\uff41\uff43\uff4d\uff45.example", OriginPattern("https", "acme.example", 443)),
    ("https://*.bücher.example", OriginPattern("https", "xn--bcher-kva.example", 443, subdomains=True)),
    ("https://*.acme.co.uk", OriginPattern("https", "acme.co.uk", 443, subdomains=True)),
    ("https://*.acme.github.io", OriginPattern("https", "acme.github.io", 443, subdomains=True)),
    ("https://github.io", OriginPattern("https", "github.io", 443)),
    ("https://my_host.acme.example", OriginPattern("https", "my_host.acme.example", 443)),
]


@pytest.mark.parametrize(("text", "expected"), VALID_PATTERNS, ids=[text for text, _ in VALID_PATTERNS])
def test_valid_pattern_is_normalised(text: str, expected: OriginPattern) -> None:
    assert parse_origin_pattern(text) == expected


# (pattern, a piece of the message that names the problem)
INVALID_PATTERNS = [
    ("*", "every site"),
    ("https://*", "every site"),
    ("https://*:*", "every site"),
    ("https://*.com", "public suffix 'com'"),
    ("https://*.co.uk", "public suffix 'co.uk'"),
    ("https://*.github.io", "public suffix 'github.io'"),
    ("https://*.COM.", "public suffix 'com'"),
    ("https://*.xn--p1ai", "public suffix"),
    ("https://*.рф", "public suffix"),
    ("https://*.localhost", "public suffix 'localhost'"),
    ("https://*acme.example", "leftmost label"),
    ("https://a*.acme.example", "leftmost label"),
    ("https://**.acme.example", "leftmost label"),
    ("https://*.*.acme.example", "leftmost label"),
    ("https://sub.*.acme.example", "leftmost label"),
    ("https://acme.*", "leftmost label"),
    ("https://*.", "nothing after"),
    ("https://*.127.0.0.1", "IP address"),
    ("http://*.[::1]", "bracket"),
    ("https://acme.example/", "a path ('/')"),
    ("https://acme.example/chat", "a path"),
    ("https://acme.example\\chat", "a path"),
    ("https://acme.example?x=1", "a query"),
    ("https://acme.example#top", "a fragment"),
    ("https://user@acme.example", "user name"),
    ("https://acme.example@evil.com", "user name"),
    ("https://", "empty host"),
    ("https://:443", "empty host"),
    ("https://acme..example", "not a valid host name"),
    ("https://.acme.example", "not a valid host name"),
    ("https://acme.example..", "not a valid host name"),
    ("https://acme.example:", "no port"),
    ("https://acme.example:0", "1 to 65535"),
    ("https://acme.example:65536", "1 to 65535"),
    ("https://acme.example:-1", "1 to 65535"),
    ("https://acme.example:1_0", "1 to 65535"),
    ("https://acme.example:\uff18\uff10", "1 to 65535"),  # fullwidth digits
    ("https://acme.example:443:443", "more than one ':'"),
    ("https://::1", "more than one ':'"),
    ("https://[::1", "closing ']'"),
    ("https://[::1]x", "after the IPv6 address"),
    ("https://[not-ip]", "not an IPv6 address"),
    ("https://[fe80::1%25eth0]", "zone id"),
    ("https://1.2.3", "ends in a number"),
    ("https://acme.example.123", "ends in a number"),
    ("https://127.000.0.1", "ends in a number"),
    ("https://acme .example", "whitespace"),
    ("https://acme.example\t:443", "whitespace"),
    ("https://acme.exa\x00mple", "control character"),
    ("ftp://acme.example", "only http and https"),
    ("wss://acme.example", "only http and https"),
    ("acme.example", "scheme://host"),
    ("https:acme.example", "scheme://host"),
    ("//acme.example", "scheme://host"),
    ("", "is empty"),
    ("   ", "is empty"),
    ("https://xn--zz.example", "not valid punycode"),
    ("https://acme%2eexample", "not a valid host name"),
    ("https://acme.exa/mple", "a path"),
    ("https://acme.exam\uff0fple", "not a valid international domain name"),
]


@pytest.mark.parametrize(("text", "problem"), INVALID_PATTERNS, ids=[text for text, _ in INVALID_PATTERNS])
def test_invalid_pattern_is_refused_with_a_sentence_naming_it(text: str, problem: str) -> None:
    with pytest.raises(InvalidPattern) as caught:
        parse_origin_pattern(text)
    message = str(caught.value)
    assert message.startswith(repr(text))
    assert problem in message
    assert "\n" not in message
    assert caught.value.pattern == text


def test_invalid_pattern_message_reads_as_documented() -> None:
    with pytest.raises(InvalidPattern) as caught:
        parse_origin_pattern("https://*.com")
    assert str(caught.value) == "'https://*.com' would match every site under the public suffix 'com'"


def test_pattern_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidPattern, match="not a string"):
        parse_origin_pattern(443)  # type: ignore[arg-type]


# (header, expected)
ORIGIN_HEADERS: list[tuple[str | None, Origin | None]] = [
    ("https://acme.example", Origin("https", "acme.example", 443)),
    ("http://acme.example", Origin("http", "acme.example", 80)),
    ("https://acme.example:8443", Origin("https", "acme.example", 8443)),
    ("https://acme.example:443", Origin("https", "acme.example", 443)),
    ("https://ACME.example", Origin("https", "acme.example", 443)),
    ("https://acme.example.", Origin("https", "acme.example", 443)),
    (" https://acme.example\t", Origin("https", "acme.example", 443)),
    ("http://[::1]:3000", Origin("http", "[::1]", 3000)),
    ("http://[::FFFF:7f00:1]", Origin("http", "[::ffff:7f00:1]", 80)),
    ("http://127.0.0.1:5173", Origin("http", "127.0.0.1", 5173)),
    ("https://xn--bcher-kva.example", Origin("https", "xn--bcher-kva.example", 443)),
    (None, None),
    ("", None),
    ("null", None),
    ("https://acme.example/", None),
    ("https://acme.example/path", None),
    ("https://acme.example?", None),
    ("https://acme.example#", None),
    ("https://user:pw@acme.example", None),
    ("https://acme.example@evil.com", None),
    ("https://bücher.example", None),
    ("file://", None),
    ("chrome-extension://abcdef", None),
    ("https://acme.example https://evil.com", None),
    ("https://acme.example:0", None),
    ("https://acme.example:99999", None),
    ("https://acme.example:*", None),
    ("https://*.acme.example", None),
    ("https://acme.example:", None),
    ("https://127.1", None),
    ("https://0x7f.0.0.1", None),
    ("https://[fe80::1%25eth0]", None),
    ("https://acme.example\r\nX-Evil: 1", None),
    ("https:///acme.example", None),
    ("https://", None),
]


@pytest.mark.parametrize(("header", "expected"), ORIGIN_HEADERS, ids=[repr(h) for h, _ in ORIGIN_HEADERS])
def test_parse_origin(header: str | None, expected: Origin | None) -> None:
    assert parse_origin(header) == expected


def test_origin_is_written_back_without_default_port() -> None:
    assert str(Origin("https", "acme.example", 443)) == "https://acme.example"
    assert str(Origin("http", "[::1]", 3000)) == "http://[::1]:3000"


def test_parse_origin_never_raises_on_random_input() -> None:
    rng = random.Random(20240601)
    alphabet = string.printable + "[]:@*%.\u00e9\u3002\uff0f\x00\ufeff"
    prefixes = ["", "http://", "https://", "https://[", "https://acme.example:"]
    for _ in range(3000):
        text = rng.choice(prefixes) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        result = parse_origin(text)
        assert result is None or isinstance(result, Origin)


def test_parse_origin_never_raises_on_huge_port() -> None:
    assert parse_origin("https://acme.example:" + "9" * 10_000) is None


ACME = ["https://acme.example", "https://*.acme.example", "http://localhost:*", "http://[::1]:3000"]

# (allowed patterns, Origin header, allowed?)
MATCHES: list[tuple[list[str], str | None, bool]] = [
    (ACME, "https://acme.example", True),
    (ACME, "https://www.acme.example", True),
    (ACME, "https://sub.sub.acme.example", True),
    (ACME, "https://ACME.example", True),
    (ACME, "https://acme.example:443", True),
    (ACME, "https://acme.example.", True),
    (ACME, "https://acme.example.evil.com", False),
    (ACME, "https://evilacme.example", False),
    (ACME, "https://acme.example@evil.com", False),
    (ACME, "http://acme.example", False),
    (ACME, "https://acme.example:444", False),
    (ACME, "https://acme.example:8443", False),
    (ACME, "https://acme.example/", False),
    (ACME, "https://xacme.example", False),
    (ACME, "https://acme.examplex", False),
    (ACME, "https://.acme.example", False),
    (ACME, "wss://acme.example", False),
    (ACME, "null", False),
    (ACME, "", False),
    (ACME, None, False),
    (ACME, "http://localhost", True),
    (ACME, "http://localhost:5173", True),
    (ACME, "http://localhost.evil.com:80", False),
    (ACME, "http://localhost.evil.com", False),
    (ACME, "https://localhost:5173", False),
    (ACME, "http://sub.localhost:5173", False),
    (ACME, "http://[::1]:3000", True),
    (ACME, "http://[0::1]:3000", True),
    (ACME, "http://[::1]:3001", False),
    (ACME, "http://127.0.0.1:3000", False),
    (["https://*.acme.example"], "https://acme.example", False),
    (["https://*.acme.example"], "https://a.acme.example", True),
    (["https://*.acme.example"], "https://a.acme.example:8443", False),
    (["https://*.acme.example:*"], "https://a.acme.example:8443", True),
    (["https://*.acme.example"], "http://a.acme.example", False),
    (["https://bücher.example"], "https://xn--bcher-kva.example", True),
    (["https://bücher.example"], "https://bucher.example", False),
    (["https://*.bücher.example"], "https://shop.xn--bcher-kva.example", True),
    (["https://acme.example."], "https://acme.example", True),
    (["http://acme.example"], "https://acme.example", False),
    (["http://127.0.0.1:*"], "http://127.0.0.1:8000", True),
    (["http://127.0.0.1:*"], "http://127.0.0.1.evil.com:8000", False),
    (["http://127.0.0.1:*"], "http://127.0.0.2:8000", False),
    ([], "https://acme.example", False),
]


@pytest.mark.parametrize(
    ("patterns", "header", "allowed"),
    MATCHES,
    ids=[
        f"{header!r} vs {patterns[0] if len(patterns) == 1 else len(patterns)}"
        for patterns, header, _ in MATCHES
    ],
)
def test_policy_allows(patterns: list[str], header: str | None, allowed: bool) -> None:
    assert OriginPolicy(patterns).allows(header) is allowed


def test_policy_names_the_bad_pattern() -> None:
    with pytest.raises(InvalidPattern, match=r"^'https://\*\.co\.uk' "):
        OriginPolicy(["https://acme.example", "https://*.co.uk"])


def test_policy_refuses_a_single_string() -> None:
    with pytest.raises(TypeError):
        OriginPolicy("https://acme.example")


def test_policy_keeps_its_patterns_and_compares_by_them() -> None:
    policy = OriginPolicy(["https://acme.example", "http://localhost:*"])
    assert policy.patterns == (
        OriginPattern("https", "acme.example", 443),
        OriginPattern("http", "localhost", None),
    )
    assert policy == OriginPolicy(["http://localhost:*", "HTTPS://acme.example:443"])
    assert policy != OriginPolicy(["https://acme.example"])
    assert [str(pattern) for pattern in policy.patterns] == ["https://acme.example", "http://localhost:*"]
