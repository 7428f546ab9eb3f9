"""A settings table's pure core: how a key is declared (``Setting``), how a table is checked against its
declarations (``check_table``), the checks that settings share, and ``ConfigError``, the problem worded
for the operator. The configuration (widget_server/config.py) and the contact-center adapters, which
declare their own settings tables, both build on it, so neither needs the other to say what a setting is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigError(Exception):
    """A configuration problem, worded for the operator: where, and what is wrong."""

    def __init__(self, where: str, problem: str, *, source: str | None = None) -> None:
        self.where = where
        self.problem = problem
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(f"{prefix}{where}: {problem}" if where else f"{prefix}{problem}")


@dataclass(frozen=True)
class Setting:
    """One key of a settings table: its type, whether it must be there, its default, and an extra check
    returning a problem sentence (or None)."""

    kind: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None
    doc: str = ""


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false"}
    names.update({list: "a list", dict: "a table"})
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def check_table(
    table: Any, spec: Mapping[str, Setting], where: str, *, extra: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """Check a table against its spec; return it with defaults filled in. Unknown keys are refused unless
    ``extra(key)`` accepts them (they are then returned untouched)."""
    if not isinstance(table, dict):
        raise ConfigError(where, "must be a table")
    result: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{where}.{key}" if where else key
        setting = spec.get(key)
        if setting is None:
            if extra is not None and extra(key):
                result[key] = value
                continue
            known = ", ".join(sorted(spec)) or "none"
            raise ConfigError(path, f"unknown key (known keys here: {known})")
        kinds = setting.kind if isinstance(setting.kind, tuple) else (setting.kind,)
        # TOML has distinct integers and booleans, but Python's bool is an int: refuse true for a number.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(path, f"must be {_type_name(setting.kind)}, not {value!r}")
        if setting.check is not None:
            problem = setting.check(value)
            if problem:
                raise ConfigError(path, problem)
        result[key] = value
    for key, setting in spec.items():
        if key not in result:
            if setting.required:
                raise ConfigError(f"{where}.{key}" if where else key, "is required")
            result[key] = setting.default
    return result


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(map(repr, choices))}"

    return check


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def http_url(value: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
    except ValueError:
        return f"{value!r} is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} must be an http:// or https:// URL"
    return None


def env_name(value: str) -> str | None:
    return (
        None
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)
        else f"{value!r} is not an environment variable name"
    )


def string_list(check_item: Callable[[str], str | None] | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        for index, item in enumerate(value):
            if not isinstance(item, str):
                return f"[{index}] must be a string, not {item!r}"
            if check_item is not None:
                problem = check_item(item)
                if problem:
                    return f"[{index}]: {problem}"
        return None

    return check
