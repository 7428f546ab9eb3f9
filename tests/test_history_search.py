"""The search query language (widget_server/history/search.py): a table of queries and the chats they find.

Every example query of Zendesk Chat's documentation ("Search Chats") is in the table, marked "seed".
Two of them need a word:
the seed's third example reads ``visitor_email:[email protected]``, which is the web page's email
obfuscation left behind when the page was copied, not the query Zendesk wrote; it is here both as copied
(a clear QueryError) and with a real address. The Node.js sample passes an already encoded ``q`` to axios,
which encodes it again; the server then receives the encoded text, which is refused with a message that
says so.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from widget_server.history.search import (
    MAX_PAGE,
    MAX_RESULTS,
    PAGE_SIZE,
    ExactTerm,
    Query,
    QueryError,
    RangeTerm,
    SearchDoc,
    WordsTerm,
    page_number,
    parse_query,
    words,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


DOCS = {
    "harry": SearchDoc(
        agent_names=("Tom",),
        visitor_name="Harry Potter",
        visitor_email="harry@example.com",
        timestamp=at("2014-11-05T10:00:00"),
        end_timestamp=at("2014-11-05T10:20:00"),
        chat_type="chat",
        rating="good",
        text="I would like some chocolate cake please",
    ),
    "visitor7": SearchDoc(  # the seed's own chat example, much shortened
        agent_names=("Thomas Anderson",),
        visitor_name="Visitor 7",
        visitor_email="",
        timestamp=at("2014-10-09T05:28:35"),
        end_timestamp=at("2014-10-09T05:46:47"),
        chat_type="chat",
        rating=None,
        text="hello The chat window is open by default",
    ),
    "offline": SearchDoc(
        agent_names=(),
        visitor_name="John",
        visitor_email="John@Example.com",
        timestamp=at("2016-02-02T15:59:59"),
        end_timestamp=None,
        chat_type="offline_msg",
        rating=None,
        text="Hi there! Do you sell chocolates?",
    ),
    "hermione": SearchDoc(
        agent_names=("Tom", "Kristi Sippola"),
        visitor_name="Hermione",
        visitor_email="hermione@example.org",
        timestamp=at("2016-02-03T09:00:00"),
        end_timestamp=at("2016-02-03T09:30:00"),
        chat_type="chat",
        rating="bad",
        text="Chocolate-covered refund delayed",
    ),
    "harry2": SearchDoc(
        agent_names=("Tom",),
        visitor_name="harry",
        visitor_email="h@example.com",
        timestamp=at("2014-12-12T23:59:59"),
        end_timestamp=at("2014-12-13T00:10:00"),
        chat_type="chat",
        rating="good",
        text="where is my order",
    ),
    "oct16": SearchDoc(
        agent_names=("Ann",),
        visitor_name="Luna",
        visitor_email="luna@example.com",
        timestamp=at("2014-10-16T00:00:00"),
        end_timestamp=at("2014-10-25T00:00:00"),
        chat_type="chat",
        rating="good",
        text="chocolate",
    ),
    "ron": SearchDoc(
        agent_names=("Kristi Sippola",),
        visitor_name="Ron",
        visitor_email="ron@example.com",
        timestamp=at("2016-02-02T16:00:00"),
        end_timestamp=at("2016-02-02T16:05:00"),
        chat_type="chat",
        rating="good",
        text="The chat window is open by default. Can we have it minimized?",
    ),
}

ENDED = {"harry", "visitor7", "hermione", "harry2", "oct16", "ron"}

MATCHES: list[tuple[str, set[str]]] = [
    # --- Zendesk Chat's documentation, "Example queries" and the code samples ---
    ("agent_names:Tom AND visitor_name:Harry", {"harry", "harry2"}),  # seed
    ("type:chat AND chocolate", {"harry", "hermione", "oct16"}),  # seed
    ("visitor_email:harry@example.com AND timestamp:[2014-10-10 TO 2014-12-12]", {"harry"}),  # seed, repaired
    ("timestamp:[2014-10-16 TO *] AND chocolate", {"harry", "hermione", "oct16"}),  # seed
    ("end_timestamp:[2014-10-25 TO *] AND rating:good", {"harry", "harry2", "oct16", "ron"}),  # seed
    ("timestamp:[2016-02-02T16:00:00 TO *] AND rating:good", {"ron"}),  # seed: curl, Go, Java, Python, Ruby
    # --- free text: whole words, case-insensitive, in the text, names and email ---
    ("chocolate", {"harry", "hermione", "oct16"}),
    ("CHOCOLATE", {"harry", "hermione", "oct16"}),
    ("chocolates", {"offline"}),
    ("choc", set()),
    ('"chocolate cake"', {"harry"}),
    ('"cake chocolate"', set()),
    ("chocolate cake", {"harry"}),  # terms without AND are combined with AND
    ("chocolate AND cake", {"harry"}),
    ("chocolate and cake", set()),  # lower-case "and" is a word, which harry's text does not have
    ("chocolate-covered", {"hermione"}),
    ('"covered refund"', {"hermione"}),
    ("potter", {"harry"}),  # visitor name
    ("sippola", {"hermione", "ron"}),  # agent names
    ("harry@example.com", {"harry"}),  # email
    ('"potter harry"', set()),
    ('"minimized?"', {"ron"}),
    ("rating:bad\tAND\nchocolate", {"hermione"}),
    # --- name fields: whole words, in order ---
    ('visitor_name:"Visitor 7"', {"visitor7"}),
    ('visitor_name:"visitor\\ 7"', {"visitor7"}),
    ("visitor_name:visitor", {"visitor7"}),
    ("visitor_name:HARRY", {"harry", "harry2"}),
    ("visitor_name:Harr", set()),
    ("visitor_name:tom", set()),
    ("agent_names:tom", {"harry", "hermione", "harry2"}),
    ("agent_names:Thomas", {"visitor7"}),
    ('agent_names:"Kristi Sippola"', {"hermione", "ron"}),
    ("agent_names:Sippola", {"hermione", "ron"}),
    ('agent_names:"Sippola Kristi"', set()),
    ('"hello" AND visitor_name:"visitor 7"', {"visitor7"}),
    # --- exact fields ---
    ("chat_type:offline_msg", {"offline"}),
    ("chat_type:OFFLINE_MSG", {"offline"}),
    ("chat_type:chat", ENDED),
    ("type:offline_msg AND chocolates", {"offline"}),
    ("rating:bad", {"hermione"}),
    ("rating:Good", {"harry", "harry2", "oct16", "ron"}),
    ('rating:"good"', {"harry", "harry2", "oct16", "ron"}),
    ("rating:good AND rating:bad", set()),
    ("visitor_email:john@example.com", {"offline"}),
    ('visitor_email:"JOHN@EXAMPLE.COM"', {"offline"}),
    ("visitor_email:example.com", set()),
    # --- ranges, UTC, both ends included to the precision written ---
    ("timestamp:[2014-10-10 TO 2014-12-12]", {"harry", "harry2", "oct16"}),
    ("timestamp:[* TO 2014-10-09]", {"visitor7"}),
    ("timestamp:[* TO 2014-10-09T05:28]", {"visitor7"}),
    ("timestamp:[* TO 2014-10-09T05:28:34]", set()),
    ("timestamp:[2014-10-09T05:28:35Z TO 2014-10-09T05:28:35Z]", {"visitor7"}),
    ("timestamp:[2014-10-09T07:28:35+02:00 TO 2014-10-09T07:28:35+02:00]", {"visitor7"}),
    ("timestamp:[2016-02-02T16:00:00.5 TO *]", {"hermione"}),
    ("timestamp:[2016-02-02T16:00:01 TO *] AND rating:good", set()),
    ("timestamp:[* TO *]", set(DOCS)),
    ("end_timestamp:[* TO *]", ENDED),
    ("end_timestamp:[2014-12-13 TO 2014-12-13]", {"harry2"}),
    ("timestamp:[2016-02-02 TO 2016-02-02] AND chocolates", {"offline"}),
]


@pytest.mark.parametrize(("q", "expected"), MATCHES, ids=[q for q, _ in MATCHES])
def test_query_finds_exactly(q: str, expected: set[str]) -> None:
    query = parse_query(q)
    assert {name for name, doc in DOCS.items() if query.matches(doc)} == expected


INVALID: list[tuple[str, str]] = [
    # the seed's third example as copied from the web page (see the module docstring)
    (
        "visitor_email:[email protected] AND timestamp:[2014-10-10 TO 2014-12-12]",
        "Ranges are only for timestamp and end_timestamp",
    ),
    # the seed's Node.js sample: q encoded before axios encodes it again
    ("timestamp%3A%5B2016-02-02T16%3A00%3A00+TO+%2A%5D+AND+rating%3Agood", "URL-encoded twice"),
    ("", "empty"),
    (" \t ", "empty"),
    ("chocolate OR cake", "OR is not supported"),
    ("chocolate || cake", "|| is not supported"),
    ("chocolate && cake", "&& is not supported"),
    ("NOT rating:bad", "NOT is not supported"),
    ("-rating:bad", "Negation"),
    ("!chocolate", "Negation"),
    ("+chocolate", "leading '+'"),
    ("(chocolate AND cake)", "Parentheses"),
    ("chocolate AND (cake)", "Parentheses"),
    ("choc*", "Wildcards"),
    ("minimized?", "Wildcards"),
    ("visitor_name:Har*", "Wildcards"),
    ("AND chocolate", "AND at character 1 must stand between two terms"),
    ("chocolate AND", "ends with AND"),
    ("chocolate AND AND cake", "AND at character 15"),
    ("foo:bar", "Unknown field 'foo'"),
    ("https://example.com", "Unknown field 'https'"),
    ("Rating:good", "write rating, not Rating"),
    ("rating:excellent", "rating must be good or bad, not 'excellent'"),
    ("chat_type:ticket", "chat_type must be chat or offline_msg"),
    ("type:email", "type must be chat or offline_msg"),
    ("rating:", "rating: has no value"),
    ("rating: good", "rating: has no value"),
    (":good", "must follow a field name"),
    ("timestamp:2014-10-10", "timestamp takes a range"),
    ("end_timestamp:*", "end_timestamp takes a range"),
    ("rating:[good TO bad]", "Ranges are only for timestamp and end_timestamp"),
    ("[2014-10-10 TO *]", "A range needs a field"),
    ("timestamp:[2014-10-10 TO 2014-12-12", "the '[' at character 11 is never closed"),
    ("timestamp:[[2014-10-10 TO *]]", "never closed"),
    ("chocolate]", "the ']' at character 10 has no matching '['"),
    ("timestamp:[2014-10-10 TO *]x", "Put a space after the ']'"),
    ("timestamp:{2014-10-10 TO 2014-12-12}", "{ } are not supported"),
    ("timestamp:[2014-10-10 to 2014-12-12]", "TO in capitals"),
    ("timestamp:[2014-10-10 TO]", "is not a range"),
    ("timestamp:[2014-10-10 2014-12-12]", "is not a range"),
    ("timestamp:[2014-13-01 TO *]", "'2014-13-01' in timestamp:[2014-13-01 TO *] is not a date"),
    ("timestamp:[2014-09-31 TO *]", "'2014-09-31'"),  # the seed's own list example has this start_date
    ("timestamp:[10/10/2014 TO *]", "is not a date"),
    ("timestamp:[2014-10-10T25:00 TO *]", "is not a date"),
    ("timestamp:[2014-10-10Z TO *]", "is not a date"),
    ("timestamp:[2014-12-12 TO 2014-10-10]", "ends before it starts"),
    ('"chocolate cake', "the '\"' at character 1 is never closed"),
    ('""', "empty"),
    ('visitor_email:""', "empty"),
    ('"!!!"', "no letters or digits"),
    ("...", "no letters or digits"),
    ('"chocolate"cake', "Put a space after the closing quote"),
    ('chocolate"cake"', "Unexpected"),
]


@pytest.mark.parametrize(("q", "fragment"), INVALID, ids=[q for q, _ in INVALID])
def test_invalid_query_names_the_problem(q: str, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(q)
    assert fragment in caught.value.message
    assert str(caught.value) == caught.value.message
    assert caught.value.message.endswith(".")  # one sentence, for a human


def test_enough_queries_and_every_seed_example() -> None:
    assert len(MATCHES) + len(INVALID) >= 40
    seed_examples = [
        "agent_names:Tom AND visitor_name:Harry",
        "type:chat AND chocolate",
        "timestamp:[2014-10-16 TO *] AND chocolate",
        "end_timestamp:[2014-10-25 TO *] AND rating:good",
        "timestamp:[2016-02-02T16:00:00 TO *] AND rating:good",
    ]
    tabled = {q for q, _ in MATCHES}
    assert all(q in tabled for q in seed_examples)


def test_a_query_is_plain_data_a_store_can_translate() -> None:
    q = 'visitor_name:"Harry Potter" AND type:CHAT AND timestamp:[2014-10-10 TO 2014-12-12T16:00] cake'
    assert parse_query(q) == Query(
        (
            WordsTerm("visitor_name", ("harry", "potter")),
            ExactTerm("chat_type", "chat"),
            RangeTerm("timestamp", at("2014-10-10T00:00:00"), at("2014-12-12T16:01:00")),
            WordsTerm(None, ("cake",)),
        )
    )
    assert parse_query("end_timestamp:[* TO 2016-02-02T16:00:00+01:00]") == Query(
        (RangeTerm("end_timestamp", None, at("2016-02-02T15:00:01")),)
    )


def test_words_are_case_folded_runs_of_letters_and_digits() -> None:
    assert words("Straße, 2nd-Floor! don't") == ("strasse", "2nd", "floor", "don", "t")
    assert parse_query("STRASSE").matches(dataclasses.replace(DOCS["harry"], text="Straße"))


def test_search_docs_need_timezone_aware_timestamps() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SearchDoc((), "a", "", datetime(2014, 10, 10), None, "chat", None, "")
    other_zone = timezone(timedelta(hours=2))
    doc = SearchDoc((), "a", "", datetime(2014, 10, 10, 2, tzinfo=other_zone), None, "chat", None, "")
    assert parse_query("timestamp:[2014-10-10 TO 2014-10-10]").matches(doc)


PAGES = [(None, 1), ("1", 1), ("2", 2), ("040", 40), ("250", 250)]
BAD_PAGES = [
    ("0", "whole number from 1 to 250"),
    ("-1", "whole number from 1 to 250"),
    ("+2", "whole number from 1 to 250"),
    ("1.5", "whole number from 1 to 250"),
    ("abc", "whole number from 1 to 250"),
    ("", "whole number from 1 to 250"),
    (" 2", "whole number from 1 to 250"),
    ("²", "whole number from 1 to 250"),
    ("251", "page 251 is past the last page (250)"),
    ("99999999999999999999", "past the last page"),
]


@pytest.mark.parametrize(("raw", "expected"), PAGES)
def test_page_number(raw: str | None, expected: int) -> None:
    assert page_number(raw) == expected


@pytest.mark.parametrize(("raw", "fragment"), BAD_PAGES)
def test_bad_page_number(raw: str, fragment: str) -> None:
    with pytest.raises(QueryError) as caught:
        page_number(raw)
    assert fragment in caught.value.message


def test_paging_constants_are_the_documented_ones() -> None:
    # Seed 003: "a limit of 10,000 results per query, or 250 pages with 40 results per page".
    assert (PAGE_SIZE, MAX_PAGE, MAX_RESULTS) == (40, 250, 10_000)
