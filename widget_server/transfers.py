"""Handing an active chat of the built-in contact center to a colleague.

The rules (``refusal``) are a pure function over the chat, who asks and the target, so that every refusal
has its code and sentence in one table; ``transfer`` reads what they need and writes the handover as one
append: the optional note (agents only), ``left`` for the agent who had the chat and ``joined`` for the
one who has it now, with the chat's agent changed in the same transaction. The visitor sees someone else
join and keeps the whole conversation; the consoles get the chat's new summary and the events.
"""

from __future__ import annotations

from widget_server import model
from widget_server.chat_service import ChatService, ServiceError
from widget_server.model import ACTIVE, ENDED, Chat, User
from widget_server.store import ChatNotFound, WrongState


def refusal(chat: Chat, by: User, target: User | None, to: str) -> ServiceError | None:
    """Why ``by`` may not hand ``chat`` to the user named ``to`` (``target``, None when there is none),
    or None when they may."""
    if chat.backend != "local" or chat.type != "chat":
        return ServiceError("unsupported", "Only chats of the built-in contact center can be transferred.")
    if chat.state == ENDED:
        return ServiceError("chat_ended", "This chat has ended.")
    if chat.state != ACTIVE:
        return ServiceError("not_active", "Accept the chat before transferring it.")
    if chat.agent != by.name and by.role != model.OPERATOR_ROLE:
        return ServiceError("not_yours", "Only the agent in this chat or an operator can transfer it.")
    if target is None:
        return ServiceError("unknown_agent", f"There is no agent named {to[:64]!r}.")
    if target.name == chat.agent:
        return ServiceError("same_agent", f"{target.display_name} is already in this chat.")
    return None


async def transfer(
    service: ChatService, chat_id: str, by: User, to: str, note: str | None, client_id: str | None
) -> Chat:
    """Hand the chat to the user named ``to``, with ``note`` for them (an internal note, written by
    ``by``). ``client_id`` identifies the note as a console's ``note`` frame does (else the chat's seq)."""
    chat = await service.get_chat(chat_id)
    if chat.deleted_at is not None:
        raise ChatNotFound(chat_id)
    target = await service.store.get_user(to)
    refused = refusal(chat, by, target, to)
    if refused is not None:
        raise refused
    assert target is not None  # refusal() said so
    events: list[model.NewEvent] = []
    if note:
        events.append(model.note(by.display_name, note, client_id or f"transfer:{chat.last_seq}"))
    events += [model.left(chat.agent_name or chat.agent or ""), model.joined(target.display_name)]
    try:
        appended = await service.append(
            chat_id,
            events,
            changes={"agent": target.name, "agent_name": target.display_name},
            require_states=[ACTIVE],
        )
    except WrongState:
        raise ServiceError("chat_ended", "This chat has ended.") from None
    return appended.chat
