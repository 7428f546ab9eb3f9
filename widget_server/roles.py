"""What each role may do, and which chats a person sees: pure rules over plain data, no I/O.

Three roles (``model.ROLES``), each with all the rights of the one before:

- an **agent** answers chats: they see the chats of their teams' sites (``Scope``), accept, reply, write
  notes, transfer and end their own chats;
- a **supervisor** sees every chat, joins any chat silently (they follow it live and write notes, the
  visitor is told nothing), takes one over, transfers or ends anyone's, and reads the reports;
- an **operator** administers: sites, users, tokens, shared canned responses, the audit log.

Which chats an agent sees: a site belongs to the team its ``team`` setting names (widget_server/teams.py).
An agent in one or more teams sees the chats (and offline messages) of their teams' sites and of the
sites that belong to no team, which anyone answers; a chat transferred to a team (``Chat.team``) is that
team's, whatever its site. An agent in no team, and everybody in a deployment
without teams, sees every chat, as before teams existed. The server enforces it everywhere a chat can be
reached by its id (the console's frames, the history pages, exports and files): a chat out of sight is
answered as one that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from widget_server.config import Site
from widget_server.model import AGENT_ROLE, OPERATOR_ROLE, SUPERVISOR_ROLE, Chat, User
from widget_server.teams import Team


def supervises(user: User) -> bool:
    """Sees every chat, joins silently, takes over, transfers and ends anyone's chat, reads reports."""
    return user.role in (SUPERVISOR_ROLE, OPERATOR_ROLE)


def administers(user: User) -> bool:
    """The admin pages (but reports), users, sites, tokens, shared canned responses, the audit log."""
    return user.role == OPERATOR_ROLE


def reads_reports(user: User) -> bool:
    return supervises(user)


@dataclass(frozen=True, slots=True)
class Scope:
    """The sites whose chats someone sees; ``sites`` None: every chat. ``teams``: their teams, whose
    chats they see wherever the chat began (a chat transferred to a team belongs to it, not its site)."""

    sites: frozenset[str] | None = None
    teams: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return self.sites is None

    def sees_site(self, site_id: str) -> bool:
        return self.sites is None or site_id in self.sites

    def sees_chat(self, site_id: str, team: str | None) -> bool:
        """Whether a chat of that site, transferred to ``team`` (None: never), is in sight."""
        if self.sites is None:
            return True
        return team in self.teams if team is not None else site_id in self.sites

    def sees(self, chat: Chat) -> bool:
        return self.sees_chat(chat.site, chat.team)

    def narrow(self, sites: Iterable[str] | None) -> list[str] | None:
        """A store query's ``sites`` filter (None: any site) narrowed to what this scope sees."""
        if self.sites is None:
            return None if sites is None else list(sites)
        if sites is None:
            return sorted(self.sites)
        return [site for site in sites if site in self.sites]


EVERYTHING = Scope()


def teams_of(user: User, teams: Mapping[str, Team]) -> set[str]:
    return {team.id for team in teams.values() if user.name in team.agents}


def scope_of(user: User, teams: Mapping[str, Team], sites: Iterable[Site]) -> Scope:
    """Which chats ``user`` sees, given the deployment's teams and its sites as they are now."""
    if user.role != AGENT_ROLE:
        return EVERYTHING
    mine = teams_of(user, teams)
    if not mine:
        return EVERYTHING
    seen = frozenset(site.id for site in sites if site.team is None or site.team in mine)
    return Scope(seen, frozenset(mine))
