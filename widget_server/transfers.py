"""Handing an active chat of the built-in contact center to a colleague.

The rules (``refusal``) are a pure function over the chat, who asks and the target, so that every refusal
has its code and sentence in one table; ``transfer`` reads what they need and writes the handover as one
append: the optional note (agents only), ``left`` for the agent who had the chat and ``joined`` for the
one who has it now, with the chat's agent changed in the same transaction. The visitor sees someone else
join and keeps the whole conversation; the consoles get the chat's new summary and the events.

A transfer to a team (``transfer_to_team``) hands the chat back to the queue, now the team's: the same
append writes the note, ``left`` and a ``queued`` state, and sets the chat's team (``Chat.team``, which
visibility and round robin read before the site's team), with no agent. The team's agents see it in
**Waiting** with the note; a team that assigns round robin gets it at once (widget_server/assignment.py
hears the chat's change as any other), and the visitor sees whoever accepts it join.

A supervisor's take-over (``take_over``) is a transfer to themselves: the same append, the same events,
so the visitor sees the agent leave and the supervisor join, and nothing is lost from the log. Each
transfer and take-over is in the audit log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from widget_server import model, roles
from widget_server.chat_service import ChatService, ServiceError, console_actor
from widget_server.model import ACTIVE, ENDED, QUEUED, Chat, User
from widget_server.store import Appended, ChatNotFound, WrongState
from widget_server.teams import Team


def refusal(
    chat: Chat, by: User, target: User | None, to: str, *, target_sees: bool = True
) -> ServiceError | None:
    """Why ``by`` may not hand ``chat`` to the user named ``to`` (``target``, None when there is none;
    ``target_sees``: whether the chat is in their sight, widget_server/roles.py), or None when they may."""
    if (refused := _handover_refusal(chat, by)) is not None:
        return refused
    if target is None:
        return ServiceError("unknown_agent", f"There is no agent named {to[:64]!r}.")
    if target.name == chat.agent:
        return ServiceError("same_agent", f"{target.display_name} is already in this chat.")
    if not target_sees:
        return ServiceError("not_in_team", f"{target.display_name} is not in a team that answers this site.")
    return None


def team_refusal(chat: Chat, by: User, team: Team | None, to: str) -> ServiceError | None:
    """Why ``by`` may not hand ``chat`` to the team with the id ``to`` (``team``, None when there is
    none), or None when they may. The chat's own team may be given it back: a colleague may be free."""
    if team is None:
        return ServiceError("unknown_team", f"There is no team {to[:64]!r}.")
    return _handover_refusal(chat, by)


def _handover_refusal(chat: Chat, by: User) -> ServiceError | None:
    """What refuses any handover, to a colleague or to a team: the chat's kind, its state, who asks."""
    if chat.backend != "local" or chat.type != "chat":
        return ServiceError("unsupported", "Only chats of the built-in contact center can be transferred.")
    if chat.state == ENDED:
        return ServiceError("chat_ended", "This chat has ended.")
    if chat.state != ACTIVE:
        return ServiceError("not_active", "Accept the chat before transferring it.")
    if chat.agent != by.name and not roles.supervises(by):
        return ServiceError("not_yours", "Only the agent in this chat or a supervisor can transfer it.")
    return None


async def transfer_to_team(
    service: ChatService,
    chat_id: str,
    by: User,
    team_id: str,
    teams: Mapping[str, Team],
    note: str | None,
    client_id: str | None,
    actor: model.Actor | None = None,
) -> Chat:
    """Hand the chat back to the queue, for the team ``team_id`` (of ``teams``), with ``note`` for them:
    the agent leaves, the chat waits (and the team's round robin, if any, assigns it at once)."""
    chat = await service.get_chat(chat_id)
    if chat.deleted_at is not None:
        raise ChatNotFound(chat_id)
    team = teams.get(team_id)
    refused = team_refusal(chat, by, team, team_id)
    if refused is not None:
        raise refused
    assert team is not None  # team_refusal() said so
    changes = {"state": QUEUED, "agent": None, "agent_name": None, "team": team.id}
    appended = await _hand_over(service, chat, by, note, client_id, model.state(QUEUED), changes)
    if appended.new:
        service.queue.entered(appended.chat)  # waiting again: the queue's places count it
        detail = {"from": chat.agent, "team": team.id, "note": bool(note)}
        await service.audit(actor or console_actor(by), "chat.transfer", appended.chat, **detail)
    return appended.chat


async def take_over(service: ChatService, chat_id: str, by: User, actor: model.Actor | None = None) -> Chat:
    """A supervisor makes the chat theirs: a transfer to themselves, audited as a take-over (a chat still
    waiting is simply accepted)."""
    if not roles.supervises(by):
        raise ServiceError("not_allowed", "Only supervisors and operators can take a chat over.")
    chat = await service.get_chat(chat_id)
    if chat.state == model.QUEUED and chat.backend == "local" and chat.deleted_at is None:
        return await service.accept(chat_id, by, actor)
    return await transfer(service, chat_id, by, by.name, None, None, actor, action="chat.take_over")


async def transfer(
    service: ChatService,
    chat_id: str,
    by: User,
    to: str,
    note: str | None,
    client_id: str | None,
    actor: model.Actor | None = None,
    *,
    action: str = "chat.transfer",
    target_sees: bool = True,
) -> Chat:
    """Hand the chat to the user named ``to``, with ``note`` for them (an internal note, written by
    ``by``). ``client_id`` identifies the note as a console's ``note`` frame does (else the chat's seq).
    ``actor``: who did it, for the audit log (``by`` through the console unless said otherwise)."""
    chat = await service.get_chat(chat_id)
    if chat.deleted_at is not None:
        raise ChatNotFound(chat_id)
    target = await service.store.get_user(to)
    refused = refusal(chat, by, target, to, target_sees=target_sees)
    if refused is not None:
        raise refused
    assert target is not None  # refusal() said so
    changes = {"agent": target.name, "agent_name": target.display_name}
    appended = await _hand_over(
        service, chat, by, note, client_id, model.joined(target.display_name), changes
    )
    if appended.new:
        detail = {"from": chat.agent, "to": target.name, "note": bool(note)}
        await service.audit(actor or console_actor(by), action, appended.chat, **detail)
    return appended.chat


async def _hand_over(
    service: ChatService,
    chat: Chat,
    by: User,
    note: str | None,
    client_id: str | None,
    then: model.NewEvent,
    changes: Mapping[str, Any],
) -> Appended:
    """The handover's one append: ``by``'s note if any, the agent's ``left``, then ``then`` (who joins, or
    the queue), with the chat's ``changes``, only while the chat is still active."""
    events: list[model.NewEvent] = []
    if note:
        events.append(model.note(by.display_name, note, client_id or f"transfer:{chat.last_seq}"))
    events += [model.left(chat.agent_name or chat.agent or ""), then]
    try:
        return await service.append(chat.id, events, changes=dict(changes), require_states=[ACTIVE])
    except WrongState:
        raise ServiceError("chat_ended", "This chat has ended.") from None
