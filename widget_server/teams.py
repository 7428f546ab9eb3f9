"""Teams of the built-in contact center: who answers a site's chats, and how chats reach them.

A team has an id, a name, its agents (login names) and an assignment mode: ``manual`` (chats wait in
the queue until an agent accepts one) or ``round_robin`` (widget_server/assignment.py offers each queued
chat to an online agent of the team with room: fewer active chats than their capacity). A site names
its team with its ``team`` setting; a site without one is manual.

Teams are declared in the configuration file (``[teams.ID]``), read at start: a change takes a restart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from widget_server.settings_table import ConfigError, Setting, check_table, one_of, string_list

MANUAL = "manual"
ROUND_ROBIN = "round_robin"
ASSIGNMENTS = (MANUAL, ROUND_ROBIN)
#: Active chats an agent takes at most when the team says nothing else.
DEFAULT_CAPACITY = 5


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    agents: tuple[str, ...]
    assignment: str = MANUAL
    #: Every agent's capacity, unless ``capacities`` names theirs.
    capacity: int = DEFAULT_CAPACITY
    capacities: Mapping[str, int] = field(default_factory=dict)

    def capacity_of(self, agent: str) -> int:
        return self.capacities.get(agent, self.capacity)


def _capacity_problem(value: Any) -> str | None:
    values = value.values() if isinstance(value, dict) else [value]
    for each in values:
        if not isinstance(each, int) or isinstance(each, bool) or not 1 <= each <= 1000:
            return "must be a whole number from 1 to 1000, or a table of them by agent"
    return None


def _agent_problem(name: str) -> str | None:
    return None if 0 < len(name) <= 64 else "each agent is a login name of 1 to 64 characters"


TEAM_SPEC = {
    "name": Setting(str, check=lambda v: None if 0 < len(v) <= 100 else "must be 1 to 100 characters"),
    "agents": Setting(list, default=[], check=string_list(_agent_problem)),
    "assignment": Setting(str, default=MANUAL, check=one_of(*ASSIGNMENTS)),
    "capacity": Setting((int, dict), default=DEFAULT_CAPACITY, check=_capacity_problem),
}


def team_from_mapping(team_id: str, table: Any, where: str) -> Team:
    """Check one team's table (``[teams.ID]``: ``name``, ``agents``, ``assignment``, and ``capacity``, a
    number for every agent or a table of numbers by agent, the others at ``DEFAULT_CAPACITY``)."""
    checked = check_table(table, TEAM_SPEC, where)
    capacity = checked["capacity"]
    agents = tuple(checked["agents"])
    if isinstance(capacity, dict):
        strangers = sorted(set(capacity) - set(agents))
        if strangers:
            raise ConfigError(f"{where}.capacity.{strangers[0]}", "is not one of the team's agents")
    return Team(
        id=team_id,
        name=checked["name"] or team_id,
        agents=agents,
        assignment=checked["assignment"],
        capacity=capacity if isinstance(capacity, int) else DEFAULT_CAPACITY,
        capacities=dict(capacity) if isinstance(capacity, dict) else {},
    )


def teams_from_mapping(table: Mapping[str, Any]) -> dict[str, Team]:
    return {team_id: team_from_mapping(team_id, each, f"teams.{team_id}") for team_id, each in table.items()}
