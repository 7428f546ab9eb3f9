"""Configuration files: what is accepted, and one clear message for everything that is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from widget_server.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "widget.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_design_example_loads(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
data_dir = "./data"
trusted_proxies = ["10.0.0.0/8"]

[sites.acme]
name = "ACME Support"
allowed_origins = ["https://acme.example", "https://*.acme.example"]
blocked_ips = ["198.51.100.0/24", "2001:db8::/32"]
backend = "local"

[sites.acme.limits]
messages_per_minute = 30
""",
        )
    )
    assert config.data_dir == tmp_path / "data"
    site = config.sites["acme"]
    assert site.provisioned and site.backend == "local" and site.limits.messages_per_minute == 30
    assert site.policy.refusal("https://shop.acme.example", "203.0.113.9") is None
    assert site.policy.refusal("https://acme.example.evil.com", "203.0.113.9") == "origin_not_allowed"
    assert site.policy.refusal("https://acme.example", "198.51.100.7") == "ip_blocked"


BAD = [
    ("data_dir = 3", "data_dir: must be a string"),
    ('colour = "blue"', "colour: unknown key"),
    ('trusted_proxies = ["10.0.0.1/8"]', "trusted_proxies: [0]: '10.0.0.1/8' has host bits set"),
    ("trusted_proxies = [7]", "trusted_proxies: [0] must be a string"),
    ('[sites.acme]\nname = ""\nallowed_origins = ["https://acme.example"]', "sites.acme.name: must be 1 to"),
    ('log_format = "xml"', "log_format: must be one of 'plain', 'json'"),
    (
        '[sites.acme]\nname = "A"\nallowed_origins = ["https://*.com"]',
        "sites.acme.allowed_origins: [0]: 'https://*.com'",
    ),
    (
        '[sites.acme]\nname = "A"\nallowed_origins = "https://acme.example"',
        "sites.acme.allowed_origins: must be a list",
    ),
    ('[sites.acme]\nname = "A"\nblocked_ips = ["300.1.1.1"]', "sites.acme.blocked_ips: [0]"),
    (
        '[sites.acme]\nname = "A"\nbackend = "carrier-pigeon"',
        "sites.acme.backend: unknown backend 'carrier-pigeon'",
    ),
    ('[sites.acme]\nname = "A"\ncolor = "red"', "sites.acme.color: unknown key"),
    ('[sites.acme]\nname = "A"\nnotify = "yes"', "sites.acme.notify: must be true or false, not 'yes'"),
    (
        '[sites.acme]\nname = "A"\n[sites.acme.limits]\nsockets_per_ip = 0',
        "sites.acme.limits.sockets_per_ip: must be greater than 0",
    ),
    (
        '[sites.acme]\nname = "A"\n[sites.acme.limits]\nsockets_per_ip = true',
        "sites.acme.limits.sockets_per_ip: must be a whole number",
    ),
    ('[sites."ACME!"]\nname = "A"', "sites.ACME!: a site id is"),
    ("[sites.acme\nname = 1", "not valid TOML"),
]


def test_a_site_without_a_name_is_named_by_its_id(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[sites.acme]\nallowed_origins = ["https://acme.example"]'))
    assert config.sites["acme"].name == "acme"


@pytest.mark.parametrize(("text", "message"), BAD, ids=[b[1][:40] for b in BAD])
def test_bad_configuration_is_one_clear_message(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_the_store_and_bus_urls_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "widget.toml").write_text('store = "sqlite:///chats.db"\nbus = "memory:"\n')
    assert load_config(tmp_path / "widget.toml").store == "sqlite:///chats.db"
    monkeypatch.setenv("WIDGET_SERVER_STORE", "postgresql://widget:pw@db.internal/widget")
    monkeypatch.setenv("WIDGET_SERVER_BUS", "redis://redis.internal:6379/0?prefix=acme:")
    config = load_config(tmp_path / "widget.toml")
    assert config.store == "postgresql://widget:pw@db.internal/widget"
    assert config.bus == "redis://redis.internal:6379/0?prefix=acme:"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'store = "mysql://db/widget"',
            "store: unknown URL scheme 'mysql' (use sqlite:, postgresql:, postgres:)",
        ),
        ('bus = "kafka://k:9092"', "bus: unknown URL scheme 'kafka' (use memory:, redis:, rediss:)"),
    ],
)
def test_unknown_store_and_bus_schemes_are_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "widget.toml").write_text(text + "\n")
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "widget.toml")
    assert str(error.value) == f"{tmp_path / 'widget.toml'}: {message}"
