"""A returning visitor's earlier chats beside the one open in the console: the widget keeps the visitor
token of its `welcome` and sends it with its next `start` (or offline message); the console's `earlier`
frame lists the chats of the same browser or the same email on that site. Real servers and sockets."""

from __future__ import annotations

from tests.support.clients import Agent, Frame, Server, Visitor
from widget_server.tokens import ResumeTokens
from widget_server.web import agent


async def chat_of(
    server: Server,
    nickname: str,
    *,
    visitor: str | None = None,
    email: str | None = None,
    say: str = "",
    local: str = "127.0.0.1",
) -> Frame:
    """A visitor starts a chat (with a visitor token and an email, if given), says something, ends it;
    from the loopback address ``local`` (each address has its own limit of chats an hour)."""
    fields: dict[str, str] = {}
    if visitor is not None:
        fields["visitor"] = visitor
    if email is not None:
        fields["email"] = email
    async with Visitor.connected(server, local_addr=(local, 0)) as tab:
        welcome = await tab.start(nickname, **fields)
        if say:
            await tab.say(say, "m1")
        await tab.send({"type": "end"})
        await tab.expect("event", kind="state", state="ended")
    return welcome


async def earlier(agent: Agent, chat: str) -> Frame:
    await agent.send({"type": "earlier", "chat": chat, "id": "e1"})
    return await agent.expect("earlier", chat=chat)


async def test_the_same_browser_or_email_lists_the_earlier_chats(server: Server) -> None:
    first = await chat_of(server, "Ada", say="Where is my order?")
    assert first["visitor"]  # a new browser gets its visitor token
    second = await chat_of(server, "Ada L.", visitor=first["visitor"], say="Hello again")
    assert second["visitor"] and second["chat"] != first["chat"]
    by_email = await chat_of(server, "Ada", email="Ada@Example.com", say="From the office")
    someone_else = await chat_of(server, "Bob", say="Not Ada")
    now = await chat_of(server, "Ada", visitor=second["visitor"], email="ada@example.COM")
    async with Agent.connected(server) as agent:
        answer = await earlier(agent, now["chat"])
        assert [c["id"] for c in answer["chats"]] == [by_email["chat"], second["chat"], first["chat"]]
        assert answer["more"] is False
        newest, _, oldest = answer["chats"]
        assert newest["visitor"]["nickname"] == "Ada" and newest["state"] == "ended"
        assert oldest["firstMessage"]["text"] == "Where is my order?"
        assert oldest["firstMessage"]["from"] == "visitor"
        assert "key" not in oldest["visitor"]  # the browser's key stays on the server
        # Only what came before: the second chat's earlier ones are the first.
        assert [c["id"] for c in (await earlier(agent, second["chat"]))["chats"]] == [first["chat"]]
        assert (await earlier(agent, someone_else["chat"]))["chats"] == []
        # Its transcript opens through `history`, like any chat's.
        await agent.send({"type": "history", "chat": first["chat"], "after": 0})
        history = await agent.expect("history", chat=first["chat"])
        assert "Where is my order?" in [e.get("text") for e in history["events"]]


async def test_a_token_of_another_site_or_forged_starts_a_new_visitor(server: Server) -> None:
    tokens = ResumeTokens(server.runtime.secret_key, 60)
    await chat_of(server, "Ada", visitor=tokens.issue_visitor("demo", "K"))  # browser K's chat
    refused = [
        ResumeTokens("not the server's key", 60).issue_visitor("demo", "K"),  # forged
        tokens.issue_visitor("elsewhere", "K"),  # another site's
        tokens.issue("demo", "K"),  # a resume token
        "garbage",
    ]
    for token in refused:
        later = await chat_of(server, "Ada", visitor=token)
        async with Agent.connected(server) as agent:
            assert (await earlier(agent, later["chat"]))["chats"] == [], token  # not linked to K's


async def test_an_offline_message_is_linked_too_and_resume_repeats_the_token(server: Server) -> None:
    async with Visitor.connected(server) as tab:
        await tab.send(
            {
                "type": "leave_message",
                "id": "o1",
                "name": "Ada",
                "email": "x@example.com",
                "message": "Call me",
            }
        )
        ack = await tab.expect("ack", id="o1")
    assert ack["visitor"] and ack["chat"]
    chat = await chat_of(server, "Ada", visitor=ack["visitor"])
    async with Visitor.connected(server) as tab:
        await tab.send({"type": "resume", "token": chat["token"], "after": 0})
        assert (await tab.expect("welcome"))["visitor"]
    async with Agent.connected(server) as agent:
        answer = await earlier(agent, chat["chat"])
        assert [(c["id"], c["type"]) for c in answer["chats"]] == [(ack["chat"], "offline_msg")]
        assert answer["chats"][0]["firstMessage"]["text"] == "Call me"
        await agent.send({"type": "earlier", "chat": "no-such-chat", "id": "e2"})
        assert (await agent.expect("error", id="e2"))["code"] == "not_found"


async def test_only_the_newest_are_listed(server: Server) -> None:
    shown = agent.EARLIER_SHOWN
    token = None
    for n in range(shown + 2):  # a visitor may start 20 chats an hour from one address: it moves on
        welcome = await chat_of(server, f"Ada {n}", visitor=token, local=f"127.0.0.{20 + n // 10}")
        token = welcome["visitor"]
    async with Agent.connected(server) as console:
        answer = await earlier(console, welcome["chat"])
    assert [c["visitor"]["nickname"] for c in answer["chats"]] == [f"Ada {n}" for n in range(shown, 0, -1)]
    assert answer["more"] is True
