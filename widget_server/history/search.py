"""The query language of Zendesk Chat's "Search Chats" (``GET /api/v2/chat/chats/search?q=...``). No I/O.

``parse_query(q)`` turns the (already URL-decoded) ``q`` into a ``Query`` or raises ``QueryError``
whose message is one sentence naming what is wrong; ``Query.matches(doc)`` decides one ``SearchDoc``.
``page_number(raw)`` reads the ``page`` parameter under the endpoint's documented limits.

What Zendesk Chat's REST API documents, and nothing more:

- Searchable fields: ``agent_names``, ``visitor_name``, ``visitor_email``, ``timestamp``,
  ``end_timestamp``, ``chat_type`` ("one of offline_msg or chat"), ``rating`` ("one of good or bad"),
  and free text, the default when no field is named.
- "A combination of two or more queries is also supported", always written with ``AND``.
- Ranges on the timestamps, ``timestamp:[2014-10-10 TO 2014-12-12]``, ``*`` for an open end,
  with dates (``2014-10-16``) or date-times (``2016-02-02T16:00:00``).
- Its example ``type:chat AND chocolate`` names the chat type ``type``, so ``type`` is accepted as
  another name of ``chat_type``.
- Paging: 40 results per page, at most 250 pages (10,000 results); ``?page=251`` is a 400.

Not documented, so refused with a ``QueryError`` rather than guessed at (each would otherwise be read as
free text and silently find the wrong chats): ``OR``, ``NOT``, ``&&``, ``||``, a leading ``-``, ``+``
or ``!``, parentheses, wildcards ``*`` and ``?`` outside a range, exclusive ranges ``{a TO b}``, a
range on any field but the two timestamps, a timestamp without a range.

Decisions where the seed is silent (each one a plain, documented rule):

- Operators are upper case, as the seed writes them (``AND``, ``TO``); a lower-case ``and`` is a word.
  Terms written next to each other without ``AND`` are combined with ``AND`` too: free text is the
  default field, and ``refund delayed`` should find chats with both words, not either.
- Double quotes make one value of text with spaces or punctuation: ``visitor_name:"Visitor 7"``,
  ``"chat window"``. Inside quotes ``\\"`` is a quote and ``\\\\`` a backslash. The seed shows no quotes,
  but its own visitor names ("Visitor 7") need them.
- Field names are lower case, as documented; field values are compared case-insensitively.
- Words: a "word" is a run of letters, digits or ``_`` (``\\w``), compared case-insensitively
  (``str.casefold``). Free text and the name fields match whole words, never parts of words: the value's
  words must appear in that order and next to each other (``chocolate`` matches "Chocolate cake!",
  not "chocolates"; ``visitor_name:Harry`` matches "Harry Potter"; ``"potter harry"`` does not).
  Free text is looked for in the transcript or message (``SearchDoc.text``), the visitor's name and
  email, and the agents' names, each on its own (a phrase does not run from one into another).
- ``visitor_email``, ``chat_type`` and ``rating`` match the whole value, case-insensitively.
  ``chat_type`` must be ``chat`` or ``offline_msg`` and ``rating`` ``good`` or ``bad``, anything else is a
  ``QueryError``; a chat without a rating never matches ``rating:``.
- Time zone: UTC. A date-time with ``Z`` or an offset (``+02:00``) is converted to UTC; one without
  is UTC. Both ends of ``[a TO b]`` are included, to the precision written: ``[2014-10-10 TO
  2014-12-12]`` runs from 2014-10-10T00:00:00Z up to and including the whole of 2014-12-12, and
  ``[* TO 2016-02-02T16:00]`` includes 16:00:59. A range that ends before it starts is a ``QueryError``.
  A chat that has not ended never matches ``end_timestamp:``.
- A bare term that contains ``%3A``, ``%5B``, ``%5D`` or ``%22`` (an encoded ``:``, ``[``, ``]``,
  ``"``) is a ``QueryError``: the query was URL-encoded twice, as the seed's own Node.js sample does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

PAGE_SIZE = 40
MAX_PAGE = 250
MAX_RESULTS = PAGE_SIZE * MAX_PAGE  # the seed's "limit of 10,000 results per query"

CHAT_TYPES = ("chat", "offline_msg")
RATINGS = ("good", "bad")
FIELDS = ("agent_names", "visitor_name", "visitor_email", "timestamp", "end_timestamp", "chat_type", "rating")
ALIASES = {"type": "chat_type"}  # the seed's example "type:chat AND chocolate"
_RANGE_FIELDS = ("timestamp", "end_timestamp")

_WORD = re.compile(r"\w+")
_SPECIAL = frozenset('"()[]{}')
_DOUBLE_ENCODED = re.compile(r"%(3A|5B|5D|22)", re.IGNORECASE)
_INSTANT = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?"
)
_FIELD_LIST = (
    "agent_names, visitor_name, visitor_email, timestamp, end_timestamp, chat_type (or type), rating"
)


class QueryError(ValueError):
    """A query or page the search refuses. ``message`` is one sentence for whoever wrote it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SearchDoc:
    """What the search sees of one chat or offline message.

    ``timestamp`` and ``end_timestamp`` must be timezone-aware (UTC). ``text`` is the transcript of a chat
    or the message of an offline message; the names and the email are searched by free text as well, so
    they need not be repeated in it. An unknown email is ``""``, an unrated chat has ``rating=None``.
    """

    agent_names: tuple[str, ...]
    visitor_name: str
    visitor_email: str
    timestamp: datetime
    end_timestamp: datetime | None
    chat_type: str
    rating: str | None
    text: str

    def __post_init__(self) -> None:
        for instant in (self.timestamp, self.end_timestamp):
            if instant is not None and instant.utcoffset() is None:
                raise ValueError("SearchDoc timestamps must be timezone-aware (UTC)")


def words(text: str) -> tuple[str, ...]:
    """The words of ``text`` as the search compares them: runs of ``\\w``, case-folded."""
    return tuple(match.group().casefold() for match in _WORD.finditer(text))


def _contains_run(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


@dataclass(frozen=True)
class WordsTerm:
    """Free text (``field=None``) or a name field: these words, in this order, next to each other."""

    field: str | None
    words: tuple[str, ...]

    def matches(self, doc: SearchDoc) -> bool:
        if self.field == "agent_names":
            texts: tuple[str, ...] = doc.agent_names
        elif self.field == "visitor_name":
            texts = (doc.visitor_name,)
        else:
            texts = (doc.text, doc.visitor_name, doc.visitor_email, *doc.agent_names)
        return any(_contains_run(words(text), self.words) for text in texts)


@dataclass(frozen=True)
class ExactTerm:
    """``visitor_email``, ``chat_type`` or ``rating`` equal to ``value`` (already case-folded)."""

    field: str
    value: str

    def matches(self, doc: SearchDoc) -> bool:
        actual: str | None = getattr(doc, self.field)
        return actual is not None and actual.casefold() == self.value


@dataclass(frozen=True)
class RangeTerm:
    """``start <= doc.<field> < end``; ``None`` is an open end. ``end`` is exclusive (see the module doc)."""

    field: str
    start: datetime | None
    end: datetime | None

    def matches(self, doc: SearchDoc) -> bool:
        instant: datetime | None = getattr(doc, self.field)
        if instant is None:
            return False
        return (self.start is None or self.start <= instant) and (self.end is None or instant < self.end)


Term = WordsTerm | ExactTerm | RangeTerm


@dataclass(frozen=True)
class Query:
    """Every term must match (``AND``). ``terms`` is public so that a store may translate it to SQL."""

    terms: tuple[Term, ...]

    def matches(self, doc: SearchDoc) -> bool:
        return all(term.matches(doc) for term in self.terms)


MAX_TERMS = 20  # each term is a condition on every chat searched: a thousand would be a denial of service


def parse_query(q: str) -> Query:
    """Parse a search query; raise ``QueryError`` naming the first problem found."""
    if not q.strip():
        raise QueryError("The query is empty: give a word to search for or a field, e.g. rating:good.")
    if len(q) > 1000:
        raise QueryError("The query is too long: at most 1,000 characters.")
    scanner = _Scanner(q)
    terms: list[Term] = []
    after_and = False
    while (token := scanner.next_token()) is not None:
        if isinstance(token, _And):
            if not terms or after_and:
                raise QueryError(f"AND at character {scanner.token_start + 1} must stand between two terms.")
            after_and = True
        else:
            terms.append(token)
            after_and = False
            if len(terms) > MAX_TERMS:
                raise QueryError(f"The query has too many terms: at most {MAX_TERMS}.")
    if after_and:
        raise QueryError("The query ends with AND: add the term it should combine with.")
    return Query(tuple(terms))


def page_number(raw: str | None) -> int:
    """The ``page`` query parameter: 1 when absent, else a whole number from 1 to ``MAX_PAGE``."""
    if raw is None:
        return 1
    if not re.fullmatch(r"[0-9]+", raw):
        raise QueryError(f"page must be a whole number from 1 to {MAX_PAGE}, not {raw!r}.")
    page = int(raw)
    if page < 1:
        raise QueryError(f"page must be a whole number from 1 to {MAX_PAGE}, not {raw!r}.")
    if page > MAX_PAGE:
        raise QueryError(
            f"page {page} is past the last page ({MAX_PAGE}): a search returns at most {MAX_RESULTS} "
            "results; narrow it with a timestamp range."
        )
    return page


# --- the scanner ----------------------------------------------------------------------------------------


class _And:
    """The one operator: a token of its own between terms."""


_AND = _And()


class _Scanner:
    """Reads one term (or ``"AND"``) at a time; every error names the character where it was found."""

    def __init__(self, q: str) -> None:
        self.q = q
        self.pos = 0
        self.token_start = 0

    def _peek(self) -> str:
        return self.q[self.pos] if self.pos < len(self.q) else ""

    def _at_boundary(self) -> bool:
        return self.pos >= len(self.q) or self.q[self.pos].isspace()

    def next_token(self) -> Term | _And | None:
        while self.pos < len(self.q) and self.q[self.pos].isspace():
            self.pos += 1
        if self.pos >= len(self.q):
            return None
        self.token_start = self.pos
        char = self._peek()
        if char == '"':
            phrase = self._quoted()
            return WordsTerm(None, _words_of(phrase, f'"{phrase}"'))
        if char in _SPECIAL:
            raise self._special_error(char)
        head = self._run(stop=":")
        if head[:1] in ("-", "!", "+"):
            written = self.q[self.token_start :].split()[0]
            if head[0] == "+":
                raise QueryError(f"{written!r}: a leading '+' is not supported; every term must match.")
            raise QueryError(f"Negation ({written!r}) is not supported: every term must match.")
        if self._peek() == ":":
            return self._field_term(head)
        return self._bare_term(head)

    def _run(self, stop: str = "") -> str:
        start = self.pos
        while self.pos < len(self.q):
            char = self.q[self.pos]
            if char.isspace() or char in _SPECIAL or char in stop:
                break
            self.pos += 1
        return self.q[start : self.pos]

    def _quoted(self) -> str:
        opened = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.q):
            char = self.q[self.pos]
            if char == "\\" and self.pos + 1 < len(self.q):
                out.append(self.q[self.pos + 1])
                self.pos += 2
            elif char == '"':
                self.pos += 1
                if not self._at_boundary():
                    raise QueryError(
                        f"Put a space after the closing quote at character {self.pos}; "
                        f"found {self._peek()!r} right after it."
                    )
                if not out:
                    raise QueryError(f"The quotes at character {opened + 1} are empty.")
                return "".join(out)
            else:
                out.append(char)
                self.pos += 1
        raise QueryError(f"Unbalanced quote: the '\"' at character {opened + 1} is never closed.")

    def _special_error(self, char: str) -> QueryError:
        at = self.pos + 1
        if char in "()":
            return QueryError(
                f"Parentheses are not supported (character {at}): combine terms with AND, nothing else."
            )
        if char == "[":
            return QueryError(
                f"A range needs a field in front of it (character {at}), "
                "e.g. timestamp:[2014-10-10 TO 2014-12-12]."
            )
        if char == "]":
            return QueryError(f"Unbalanced bracket: the ']' at character {at} has no matching '['.")
        if char in "{}":
            return QueryError(
                f"Ranges with {{ }} are not supported (character {at}): use [start TO end], "
                "which includes both ends."
            )
        return QueryError(f'Unexpected {char!r} at character {at}; put text with quotes in it in "...".')

    def _bare_term(self, head: str) -> Term | _And:
        if head == "AND":
            return _AND
        if head in ("OR", "||"):
            raise QueryError(f"{head} is not supported: terms can only be combined with AND.")
        if head in ("NOT", "&&"):
            what = "negation" if head == "NOT" else "write AND"
            raise QueryError(f"{head} is not supported ({what}); terms can only be combined with AND.")
        _refuse_wildcards(head)
        if _DOUBLE_ENCODED.search(head):
            raise QueryError(
                f"{head[:40]!r} looks URL-encoded twice (%3A is ':', %5B '[', %5D ']', %22 '\"'): "
                "encode the query once."
            )
        if not self._at_boundary():
            raise self._special_error(self._peek())
        return WordsTerm(None, _words_of(head, repr(head)))

    def _field_term(self, name: str) -> Term:
        term_text_start = self.token_start
        if not name:
            raise QueryError(
                f"The ':' at character {self.pos + 1} must follow a field name, e.g. rating:good."
            )
        field = ALIASES.get(name, name)
        if field not in FIELDS:
            if ALIASES.get(name.lower(), name.lower()) in FIELDS:
                raise QueryError(f"Field names are lower case: write {name.lower()}, not {name}.")
            raise QueryError(
                f"Unknown field {name!r}. The searchable fields are {_FIELD_LIST}; "
                'to search for text with a colon in it, put it in "...".'
            )
        self.pos += 1  # the colon
        char = self._peek()
        if char == "[":
            if field not in _RANGE_FIELDS:
                raise QueryError(
                    f"Ranges are only for timestamp and end_timestamp; {name} takes a single value."
                )
            return self._range(field, name)
        if char in ("{", "}"):
            raise self._special_error(char)
        if field in _RANGE_FIELDS:
            raise QueryError(
                f"{name} takes a range, e.g. {name}:[2014-10-10 TO 2014-12-12], with * for an open end."
            )
        if char == "" or char.isspace():
            raise QueryError(
                f"{name}: has no value; write the value right after the colon, e.g. {name}:value."
            )
        if char == '"':
            value = self._quoted()
        else:
            value = self._run()
            if not self._at_boundary():
                raise self._special_error(self._peek())
            _refuse_wildcards(value)
        shown = self.q[term_text_start : self.pos]
        if field in ("agent_names", "visitor_name"):
            return WordsTerm(field, _words_of(value, shown))
        folded = value.strip().casefold()
        if field == "chat_type" and folded not in CHAT_TYPES:
            raise QueryError(f"{name} must be chat or offline_msg, not {value!r}.")
        if field == "rating" and folded not in RATINGS:
            raise QueryError(f"rating must be good or bad, not {value!r}.")
        if not folded:
            raise QueryError(f"{shown} has no value.")
        return ExactTerm(field, folded)

    def _range(self, field: str, name: str) -> RangeTerm:
        opened = self.pos
        close = self.q.find("]", opened)
        nested = self.q.find("[", opened + 1)
        if close < 0 or (0 <= nested < close):
            raise QueryError(
                f"Unbalanced bracket: the '[' at character {opened + 1} is never closed with ']'."
            )
        inner = self.q[opened + 1 : close]
        self.pos = close + 1
        if not self._at_boundary():
            raise QueryError(
                f"Put a space after the ']' at character {close + 1}; found {self._peek()!r} right after it."
            )
        parts = inner.split()
        shown = f"{name}:[{inner}]"
        if len(parts) != 3 or parts[1] != "TO":
            raise QueryError(
                f"{shown} is not a range: write [start TO end] with TO in capitals, "
                "e.g. [2014-10-10 TO 2014-12-12] or [2014-10-16 TO *]."
            )
        start = _instant(parts[0], shown, upper=False)
        end = _instant(parts[2], shown, upper=True)
        if start is not None and end is not None and start >= end:
            raise QueryError(f"{shown} ends before it starts.")
        return RangeTerm(field, start, end)


def _refuse_wildcards(text: str) -> None:
    if "*" in text or "?" in text:
        raise QueryError(
            f"Wildcards (* and ?) are not supported in {text!r}: search for whole words, "
            'or put the text in "..." to search for it as written.'
        )


def _words_of(value: str, shown: str) -> tuple[str, ...]:
    found = words(value)
    if not found:
        raise QueryError(f"{shown} has no letters or digits to search for.")
    return found


def _instant(text: str, shown: str, *, upper: bool) -> datetime | None:
    """A range end in UTC: ``None`` for ``*``; a lower end is the first instant of what is written, an
    upper end the first instant after it, at the precision written (a day, a minute, a second...)."""
    if text == "*":
        return None
    match = _INSTANT.fullmatch(text)
    problem = f"{text!r} in {shown} is not a date (2014-10-10) or a date-time (2016-02-02T16:00:00, UTC)."
    if match is None:
        raise QueryError(problem)
    hour, minute, second, fraction = (match.group(k) for k in ("hour", "minute", "second", "fraction"))
    if hour is None:
        step = timedelta(days=1)
    elif second is None:
        step = timedelta(minutes=1)
    elif fraction is None:
        step = timedelta(seconds=1)
    else:
        step = timedelta(microseconds=10 ** (6 - len(fraction)))
    zone = match.group("zone")
    tz = UTC
    if zone not in (None, "Z"):
        sign = 1 if zone[0] == "+" else -1
        try:
            tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
        except ValueError:
            raise QueryError(problem) from None
    try:
        year, month, day = (int(part) for part in match.group("date").split("-"))
        moment = datetime(
            year,
            month,
            day,
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        raise QueryError(problem) from None
    return (moment + step if upper else moment).astimezone(UTC)
