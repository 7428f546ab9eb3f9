"""Proactive greetings: a site's rules for the bubble the widget shows beside its launcher, and what a
chat started from one stores. Pure: no I/O.

A rule (``[[sites.ID.greetings]]``) names the pages it applies to, the seconds a visitor spends on such a
page before it shows, and its text (and, optionally, who it is from). The rules reach the widget in
``hello``; the widget matches them against the page's address, waits, and shows the first rule's
greeting that this browser has not seen within ``again_after_days``, and only while someone can answer
(unless the rule offers the offline form: ``offline = true``).

Nothing is stored when a greeting is shown. When the visitor answers it (starts a chat, or leaves an
offline message, from the bubble), the ``start`` (or ``leave_message``) frame names the rule, and the
chat's first event is a ``greeting`` with the rule's text *as the site configures it*, never a text that
the visitor's browser sent. A greeting of the host page's own (``WidgetServer("greet", {text})``) cannot
be vouched for in this way, since any visitor can write that frame: its text is stored, but marked as the
page's (``"page": true``), so agents never take it for words of their team.

Page patterns, matched by the widget against ``location`` (static/widget.js, ``matches``): ``*`` is any
run of characters (``/`` included), every other character stands for itself, and the pattern must match
the whole:

- ``*``: every page;
- ``/pricing*``: beginning with ``/`` it is matched against the page's path (``/pricing``,
  ``/pricing/teams``), or its path and query string (``location.search``) if the pattern has a ``?``;
- ``https://shop.example/*``: beginning with a scheme it is matched against the whole address, fragment
  excepted.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tomli_w

from widget_server import model
from widget_server.protocol import PageGreeting
from widget_server.settings_table import ConfigError, Setting, check_table

MAX_RULES = 20
MAX_PAGES = 20
MAX_PATTERN = 500
MAX_TEXT = 1000
MAX_FROM = 64
MAX_AFTER = 3600  # seconds: a greeting later than an hour on one page would hardly ever show
MAX_AGAIN = 365  # days
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
GREETING = "greeting"  # the event's kind


def _printable(value: str, *, newlines: bool = False) -> str | None:
    allowed = "\n\t" if newlines else ""
    if any((ord(c) < 32 or ord(c) == 127) and c not in allowed for c in value):
        return "must not contain control characters" + (" (newlines and tabs are fine)" if newlines else "")
    return None


def pattern_problem(pattern: str) -> str | None:
    """A page pattern's problem, or None (the syntax is in the module doc)."""
    if not 0 < len(pattern) <= MAX_PATTERN:
        return f"a page pattern is 1 to {MAX_PATTERN} characters"
    if any(c.isspace() for c in pattern) or _printable(pattern):
        return f"{pattern!r}: a page pattern has no spaces or control characters"
    if pattern != "*" and not pattern.startswith(("/", "http://", "https://")):
        return (
            f"{pattern!r} is not a page pattern: write '*' (every page), a path such as '/pricing*', or a"
            " whole address such as 'https://shop.example/pricing*'"
        )
    return None


def _pages(value: Any) -> str | None:
    if not 0 < len(value) <= MAX_PAGES:
        return f"must list 1 to {MAX_PAGES} page patterns"
    for index, pattern in enumerate(value):
        if not isinstance(pattern, str):
            return f"[{index}] must be a string, not {pattern!r}"
        problem = pattern_problem(pattern)
        if problem:
            return f"[{index}]: {problem}"
    return None


def _text(value: str) -> str | None:
    if not value.strip() or len(value) > MAX_TEXT:
        return f"must be 1 to {MAX_TEXT} characters"
    return _printable(value, newlines=True)


def _sender(value: str) -> str | None:
    if not value.strip() or len(value) > MAX_FROM:
        return f"must be 1 to {MAX_FROM} characters"
    return _printable(value)


RULE_SPEC = {
    "id": Setting(
        str,
        required=True,
        check=lambda v: None if RULE_ID.match(v) else "must be 1 to 32 lowercase letters, digits, '-' or '_'",
        doc="named in the start frame and in the visitor's storage",
    ),
    "pages": Setting(list, required=True, check=_pages, doc="page patterns: '*', '/path*' or 'https://…'"),
    "after": Setting(
        (int, float),
        default=10,
        check=lambda v: None if 0 <= v <= MAX_AFTER else f"must be 0 to {MAX_AFTER} seconds",
        doc="seconds on the page before it shows",
    ),
    "text": Setting(str, required=True, check=_text, doc="the greeting"),
    "from": Setting(str, check=_sender, doc="who it is from (the site's name when not set)"),
    "offline": Setting(
        bool, default=False, doc="shown when nobody can answer too, offering the offline form"
    ),
    "again_after_days": Setting(
        int,
        default=7,
        check=lambda v: None if 0 <= v <= MAX_AGAIN else f"must be 0 to {MAX_AGAIN} days",
        doc="days before the same browser sees it again (0: every page view)",
    ),
}


@dataclass(frozen=True)
class Greeting:
    """One rule of ``[[sites.ID.greetings]]``."""

    id: str
    pages: tuple[str, ...]
    text: str
    after: float = 10
    sender: str | None = None
    offline: bool = False
    again_after_days: int = 7

    def table(self) -> dict[str, Any]:
        """As in the file (and the admin API, and the database)."""
        table: dict[str, Any] = {
            "id": self.id,
            "pages": list(self.pages),
            "after": self.after,
            "text": self.text,
        }
        if self.sender is not None:
            table["from"] = self.sender
        table["offline"] = self.offline
        table["again_after_days"] = self.again_after_days
        return table

    def hello(self) -> dict[str, Any]:
        """As the widget gets it in ``hello``."""
        rule: dict[str, Any] = {
            "id": self.id,
            "pages": list(self.pages),
            "after": self.after,
            "text": self.text,
        }
        if self.sender is not None:
            rule["from"] = self.sender
        if self.offline:
            rule["offline"] = True
        rule["days"] = self.again_after_days
        return rule


def greetings_from_list(value: Any, where: str) -> tuple[Greeting, ...]:
    """Check ``greetings`` (a list of rule tables) and build the rules; ``ConfigError`` names the key."""
    if not isinstance(value, list):
        raise ConfigError(where, "must be a list of tables ([[sites.ID.greetings]] in the file)")
    if len(value) > MAX_RULES:
        raise ConfigError(where, f"at most {MAX_RULES} greetings a site")
    rules: list[Greeting] = []
    for index, table in enumerate(value):
        checked = check_table(table, RULE_SPEC, f"{where}[{index}]")
        if any(rule.id == checked["id"] for rule in rules):
            raise ConfigError(f"{where}[{index}].id", f"{checked['id']!r} is the id of an earlier greeting")
        rules.append(
            Greeting(
                id=checked["id"],
                pages=tuple(checked["pages"]),
                text=checked["text"],
                after=checked["after"],
                sender=checked["from"],
                offline=checked["offline"],
                again_after_days=checked["again_after_days"],
            )
        )
    return tuple(rules)


def answered(
    rules: Sequence[Greeting], site_name: str, said: str | PageGreeting | None
) -> model.NewEvent | None:
    """The ``greeting`` event of a chat started from a greeting: a rule's (by id: the text the site
    configures), or the page's (marked as such). None for no greeting, or a rule no longer configured
    (removed since the page loaded: the chat starts without it)."""
    if said is None:
        return None
    if isinstance(said, PageGreeting):
        return model.NewEvent(GREETING, {"name": said.sender or site_name, "text": said.text, "page": True})
    rule = next((rule for rule in rules if rule.id == said), None)
    if rule is None:
        return None
    return model.NewEvent(GREETING, {"name": rule.sender or site_name, "text": rule.text, "rule": rule.id})


def for_contact_center(user_data: Mapping[str, str], event: model.NewEvent | None) -> dict[str, str]:
    """The visitor's data as a contact center other than the built-in one gets it (GWS ``userData``,
    HelpCrunch ``customData``, Omnidesk's additional data): with the greeting's text, since their customer
    APIs cannot post a message from the team. A page's greeting goes as ``page_greeting``."""
    data = dict(user_data)
    if event is not None:
        data["page_greeting" if event.data.get("page") else "greeting"] = event.data["text"]
    return data


# --- the admin page's field: the rules written as in the file -----------------------------------------


def text_of_greetings(rules: Sequence[Greeting]) -> str:
    """The rules as ``[[greetings]]`` blocks of TOML, as the file writes them (for the admin page's field;
    tomli-w writes what the standard library's tomllib reads back)."""
    return tomli_w.dumps({"greetings": [rule.table() for rule in rules]}, multiline_strings=True).strip()


def greetings_from_text(text: str) -> list[Any]:
    """The admin page's field, ``[[greetings]]`` blocks of TOML, as a list of rule tables (checked later,
    with the site). ValueError says what is not so written."""
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"Not valid TOML: {error}.") from None
    other = sorted(set(parsed) - {"greetings"})
    if other or not isinstance(parsed.get("greetings", []), list):
        raise ValueError("Write each greeting as a [[greetings]] block, its keys below it.")
    rules: list[Any] = parsed.get("greetings", [])
    return rules
