"""aextract_many holds at most a few finished results that the caller has not taken."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from extractor.api import aextract_many
from extractor.testing import Reply, ScriptedServer

ANSWER = json.dumps({"company": "A", "address": None, "date": None, "total": 1})


def test_a_slow_consumer_holds_back_the_producers(tmp_path: Path) -> None:
    for number in range(60):
        (tmp_path / f"r{number:02}.txt").write_text(f"SHOP {number}\n")
    finished = taken = backlog = 0

    def on_result(_: object) -> None:
        nonlocal finished
        finished += 1

    async def consume(base_url: str) -> None:
        nonlocal taken, backlog
        async for _ in aextract_many(
            sorted(tmp_path.iterdir()), "receipt", base_url=base_url, model="m",
            concurrency=4, on_result=on_result,
        ):  # fmt: skip
            taken += 1
            backlog = max(backlog, finished - taken)
            await asyncio.sleep(0.02)  # a consumer slower than the model (a disk, a database)

    with ScriptedServer(responder=lambda _: Reply.chat(ANSWER)) as server:
        asyncio.run(consume(server.base_url))
    assert taken == 60
    assert backlog <= 4  # every finished result not yet taken holds one of the 4 slots
