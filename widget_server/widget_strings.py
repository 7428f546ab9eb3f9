"""The widget's languages: which it speaks, every string it shows, and the check of a site's own wording.

The English strings live in the widget itself, as one JSON object named ``EN`` in ``static/widget.js``
and one each in ``static/widget-files.js`` (the upload part) and ``static/widget-earlier.js`` (a verified
visitor's earlier chats): the script every visitor downloads carries
English without asking for more, and there is no second copy to drift. Every other language is a file
``static/locales/CODE.json`` with the same string ids, served as ``/widget-locales/CODE.json`` and
fetched by the widget only when it speaks that language. A value is a string, or plural forms: a table
of the categories of ``Intl.PluralRules`` (``one``, ``few``, ``other``…) for a string with ``{n}``.

A site may set its default language (``locale``) and its own wording (``[sites.ID.strings]``):
``greeting = "…"`` for every language, ``[sites.ID.strings.de]`` for one. ``check_strings`` refuses an
unknown id, an unknown language, a placeholder the string does not have, or plural forms without
``other``, naming the key.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from widget_server.assets import STATIC

LOCALE_DIR = STATIC / "locales"
PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")
# Written right to left: the widget sets dir="rtl" for these (static/widget.js, relabel).
RIGHT_TO_LEFT = frozenset({"ar", "he", "fa", "ur"})
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_TABLE = re.compile(r"^  const EN = (\{\n.*?\n  \});$", re.MULTILINE | re.DOTALL)


class StringsProblem(Exception):
    """A site's ``strings`` table is not valid: ``where`` is the key path below it (``greting``,
    ``de.greeting``), ``problem`` the sentence."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def english_table(script: Path) -> dict[str, Any]:
    """The ``EN`` object of one of the widget's scripts."""
    match = _TABLE.search(script.read_text(encoding="utf-8"))
    if match is None:
        raise RuntimeError(f"{script.name} has no `const EN = {{…}};` table of strings")
    table: dict[str, Any] = json.loads(match.group(1))
    return table


def _load_english() -> dict[str, Any]:
    english: dict[str, Any] = {}
    for name in ("widget.js", "widget-files.js", "widget-earlier.js"):
        english.update(english_table(STATIC / name))
    return english


#: Every string the widget shows, by id, in English.
ENGLISH: Mapping[str, Any] = _load_english()
#: The languages the widget speaks: English, and one file each for the others.
LOCALES: tuple[str, ...] = tuple(sorted({"en", *(path.stem for path in LOCALE_DIR.glob("*.json"))}))
#: Each language's name in English and in itself, for the admin page.
LANGUAGE_NAMES = {
    "ar": "Arabic (العربية)",
    "de": "German (Deutsch)",
    "en": "English",
    "es": "Spanish (Español)",
    "fr": "French (Français)",
    "he": "Hebrew (עברית)",
    "it": "Italian (Italiano)",
    "ja": "Japanese (日本語)",
    "nl": "Dutch (Nederlands)",
    "pl": "Polish (Polski)",
    "pt": "Portuguese (Português)",
    "ru": "Russian (Русский)",
    "tr": "Turkish (Türkçe)",
}


def placeholders(value: Any) -> set[str]:
    """The ``{names}`` of a string, or of all its plural forms."""
    texts = value.values() if isinstance(value, dict) else [value]
    return {name for text in texts if isinstance(text, str) for name in _PLACEHOLDER.findall(text)}


def _value_problem(string_id: str, value: Any) -> tuple[str, str] | None:
    """(where below the id, problem) if ``value`` is not a valid wording of ``string_id``."""
    if isinstance(value, dict):
        for category, text in value.items():
            if category not in PLURAL_CATEGORIES:
                return category, f"not a plural category (one of {', '.join(PLURAL_CATEGORIES)})"
            if not isinstance(text, str):
                return category, f"must be a string, not {text!r}"
        if "other" not in value:
            return "", "plural forms need 'other'"
    elif not isinstance(value, str):
        return "", f"must be a string (or a table of plural forms), not {value!r}"
    known = placeholders(ENGLISH[string_id])
    unknown = sorted(placeholders(value) - known)
    if unknown:
        has = ", ".join(f"{{{name}}}" for name in sorted(known)) or "none"
        return "", f"unknown placeholder {{{unknown[0]}}} (this string has: {has})"
    return None


def _unknown_id(key: str) -> str:
    close = difflib.get_close_matches(key, ENGLISH, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown string id ({hint}the ids are listed in docs/embedding.md)"


def check_strings(table: Mapping[str, Any]) -> dict[str, Any]:
    """A site's ``strings`` as given, once every key and value is valid; ``StringsProblem`` otherwise."""
    for key, value in table.items():
        if key in LOCALES and key not in ENGLISH:
            if not isinstance(value, dict):
                raise StringsProblem(key, f"a language's strings are a table, not {value!r}")
            for string_id, text in value.items():
                _check_one(f"{key}.{string_id}", string_id, text)
        else:
            _check_one(key, key, value)
    return dict(table)


def _check_one(where: str, string_id: str, value: Any) -> None:
    if string_id not in ENGLISH:
        raise StringsProblem(where, _unknown_id(string_id))
    problem = _value_problem(string_id, value)
    if problem is not None:
        below, sentence = problem
        raise StringsProblem(f"{where}.{below}" if below else where, sentence)


def locale_problem(value: str) -> str | None:
    return None if value in LOCALES else f"unknown language {value!r} (known: {', '.join(LOCALES)})"
