"""Round-robin rules (widget_server/routing.py), as tables: no I/O."""

from __future__ import annotations

import pytest

from widget_server.routing import Candidate, pick, plan


@pytest.mark.parametrize(
    ("candidates", "chosen"),
    [
        ([], None),
        ([Candidate("ana", 0, 5)], "ana"),
        ([Candidate("ana", 2, 5), Candidate("bo", 1, 5)], "bo"),  # fewest active chats
        ([Candidate("ana", 1, 5, 20.0), Candidate("bo", 1, 5, 10.0)], "bo"),  # least recently given one
        ([Candidate("ana", 1, 5, 10.0), Candidate("bo", 1, 5, 10.0)], "ana"),  # then by name
        ([Candidate("ana", 0, 5), Candidate("bo", 1, 1)], "ana"),
        ([Candidate("ana", 5, 5), Candidate("bo", 1, 1)], None),  # nobody has room
        ([Candidate("ana", 3, 2), Candidate("bo", 4, 9)], "bo"),  # over capacity (lowered): no room
    ],
)
def test_pick(candidates: list[Candidate], chosen: str | None) -> None:
    picked = pick(candidates)
    assert (picked.name if picked else None) == chosen


def test_a_batch_spreads_over_the_team_and_the_rest_waits() -> None:
    team = [Candidate("ana", 0, 2), Candidate("bo", 1, 2)]
    queued = [(f"c{i}", "support") for i in range(5)]
    # ana (0) → c0; ana 1, bo 1: bo got one less recently (never, here) → c1... then both full.
    assert plan(queued, {"support": team}, now=100.0) == [("c0", "ana"), ("c1", "bo"), ("c2", "ana")]


def test_chats_go_only_to_their_own_team_and_an_agent_in_two_counts_once() -> None:
    candidates = {
        "sales": [Candidate("ana", 0, 1), Candidate("bo", 0, 3)],
        "billing": [Candidate("bo", 0, 3)],
    }
    queued = [("s1", "sales"), ("b1", "billing"), ("s2", "sales"), ("x1", "nobody"), ("b2", "billing")]
    assert plan(queued, candidates, now=1.0) == [("s1", "ana"), ("b1", "bo"), ("s2", "bo"), ("b2", "bo")]


def test_nobody_online_means_everything_waits() -> None:
    assert plan([("c1", "support")], {"support": []}, now=1.0) == []
