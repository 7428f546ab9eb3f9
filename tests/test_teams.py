"""Teams in the configuration file (widget_server/teams.py) and a site's `team` setting."""

from __future__ import annotations

from typing import Any

import pytest

from widget_server.config import config_from_mapping
from widget_server.settings_table import ConfigError
from widget_server.teams import DEFAULT_CAPACITY, MANUAL, ROUND_ROBIN


def test_a_team_and_its_site() -> None:
    config = config_from_mapping(
        {
            "teams": {
                "support": {
                    "name": "Support",
                    "agents": ["ana", "bo"],
                    "assignment": "round_robin",
                    "capacity": {"ana": 2},
                },
                "sales": {"agents": ["cy"], "capacity": 3},
            },
            "sites": {"acme": {"team": "support", "teams": ["sales", "support"]}},
        }
    )
    support, sales = config.teams["support"], config.teams["sales"]
    assert (support.name, support.agents, support.assignment) == ("Support", ("ana", "bo"), ROUND_ROBIN)
    assert (support.capacity_of("ana"), support.capacity_of("bo")) == (2, DEFAULT_CAPACITY)
    assert (sales.name, sales.assignment, sales.capacity_of("cy")) == ("sales", MANUAL, 3)
    assert (config.sites["acme"].team, config.sites["acme"].teams) == ("support", ("sales", "support"))


@pytest.mark.parametrize(
    ("mapping", "where", "problem"),
    [
        ({"sites": {"acme": {"team": "support"}}}, "sites.acme.team", "there is no [teams.support]"),
        ({"sites": {"acme": {"team": "No Such"}}}, "sites.acme.team", "must be a team's id"),
        ({"sites": {"acme": {"teams": ["sales"]}}}, "sites.acme.teams", "there is no [teams.sales]"),
        ({"teams": {"t": {"assignment": "random"}}}, "teams.t.assignment", "must be one of"),
        ({"teams": {"t": {"capacity": 0}}}, "teams.t.capacity", "from 1 to 1000"),
        ({"teams": {"t": {"capacity": {"ana": True}}}}, "teams.t.capacity", "from 1 to 1000"),
        ({"teams": {"t": {"agents": ["ana"], "capacity": {"bo": 2}}}}, "teams.t.capacity.bo", "not one of"),
        ({"teams": {"t": {"agents": [""]}}}, "teams.t.agents", "login name"),
        ({"teams": {"t": {"agent": ["ana"]}}}, "teams.t.agent", "unknown key"),
    ],
)
def test_mistakes_are_named(mapping: dict[str, Any], where: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_mapping(mapping)
    assert raised.value.where == where and problem in raised.value.problem
