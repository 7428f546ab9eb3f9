"""Round-robin assignment's rules, with no I/O: which agent gets which queued chat.

Each queued chat, oldest first, goes to the online agent of its team who has room (fewer active chats
than their capacity) and the fewest active chats; of those equal, the one who least recently got a chat
(then by name, so that the choice is the same in every process). Each assignment counts at once, so a
batch of queued chats spreads over the team. A chat for which nobody has room waits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """An agent who may get a chat now: online, in the chat's team."""

    name: str
    active: int
    capacity: int
    #: When they last got a chat (any clock, only compared), 0 if never.
    last_assigned: float = 0.0

    @property
    def has_room(self) -> bool:
        return self.active < self.capacity


def pick(candidates: Iterable[Candidate]) -> Candidate | None:
    """The agent to give the next chat to, or None when nobody has room."""
    with_room = [c for c in candidates if c.has_room]
    if not with_room:
        return None
    return min(with_room, key=lambda c: (c.active, c.last_assigned, c.name))


def plan(
    queued: Sequence[tuple[str, str]], candidates: Mapping[str, Sequence[Candidate]], now: float
) -> list[tuple[str, str]]:
    """``queued``: (chat id, team id), oldest first; ``candidates``: each team's. Returns (chat id,
    agent) for every chat that gets an agent now, in order. An agent in two teams counts once."""
    agents: dict[str, Candidate] = {}
    for each in candidates.values():
        for candidate in each:
            agents.setdefault(candidate.name, candidate)
    members = {team_id: [c.name for c in each] for team_id, each in candidates.items()}
    assigned: list[tuple[str, str]] = []
    for chat_id, team_id in queued:
        chosen = pick(agents[name] for name in members.get(team_id, []))
        if chosen is None:
            continue
        agents[chosen.name] = Candidate(chosen.name, chosen.active + 1, chosen.capacity, now)
        now += 1e-6  # the next one of the batch is later still
        assigned.append((chat_id, chosen.name))
    return assigned
