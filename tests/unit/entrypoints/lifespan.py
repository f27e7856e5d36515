"""Running an ASGI app's lifespan in a test, as a server would (shared with the integration tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import ASGIApp, Message


@contextlib.asynccontextmanager
async def running_lifespan(app: ASGIApp, state: dict[str, Any]) -> AsyncIterator[None]:
    """The ASGI lifespan protocol as a server runs it, filling ``state``."""
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started, stopped = asyncio.Event(), asyncio.Event()
    await events.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.shutdown.complete":
            stopped.set()
        else:
            raise AssertionError(message)

    async def run_lifespan() -> None:
        await app({"type": "lifespan", "state": state}, events.get, send)

    task = asyncio.create_task(run_lifespan())
    await asyncio.wait_for(started.wait(), 30)
    try:
        yield
    finally:
        await events.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(stopped.wait(), 30)
        await task
