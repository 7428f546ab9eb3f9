"""PostgreSQL out of reach for a while: visitors get a clear error for what could not be stored (no
ack, so the widget sends it again), nothing is half-written, everyone else's socket stays open, and the
server recovers by itself when the database is back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from tests.support.clients import Visitor, make_config, running
from tests.support.tcp_link import Link

OUTAGE = 10.0  # seconds, as an operator would see a database failover take


async def test_the_store_unreachable_for_ten_seconds(
    data_dir: Path, postgres_url: str, redis_url: str
) -> None:
    target = urlsplit(postgres_url)
    async with Link(target.port or 5432, target.hostname or "127.0.0.1") as link:
        through_link = postgres_url.replace(f"{target.hostname}:{target.port}", f"127.0.0.1:{link.port}")
        config = make_config(data_dir, {"store": through_link, "bus": redis_url})
        async with running(config) as server, Visitor.connected(server) as visitor:
            await visitor.start()
            chat = visitor.chat or ""
            await visitor.say("before", id="m1")

            link.cut()
            errors = []
            for n in range(3):
                await visitor.send({"type": "say", "id": f"lost{n}", "text": "during"})
                error = await visitor.expect("error", timeout=OUTAGE, id=f"lost{n}")
                errors.append(error)
                await asyncio.sleep(OUTAGE / 4)
            assert all(isinstance(e["code"], str) and e["message"] for e in errors), errors
            link.restore()

            # Back: the same client ids go through now (the widget resends what was not acked), once.
            for n in range(3):
                ack = await visitor.say("during", id=f"lost{n}")
                assert ack["type"] == "ack"
            await visitor.say("after", id="m2")

    direct = await asyncpg.connect(postgres_url)
    try:
        rows = await direct.fetch(
            "SELECT seq, data::jsonb ->> 'id' AS id FROM events WHERE chat_id = $1 AND kind = 'message'"
            " ORDER BY seq",
            chat,
        )
        seqs = await direct.fetch("SELECT seq FROM events WHERE chat_id = $1 ORDER BY seq", chat)
        last_seq = await direct.fetchval("SELECT last_seq FROM chats WHERE id = $1", chat)
    finally:
        await direct.close()
    assert [row["id"] for row in rows] == ["m1", "lost0", "lost1", "lost2", "m2"]  # each once
    assert [row["seq"] for row in seqs] == list(range(1, last_seq + 1))  # gapless, nothing half-written
