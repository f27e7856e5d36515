"""What the workers hand each event to: anything that can consume one.

The production consumer is :func:`kingdom.services.consumers.build_consumer`'s
(every worker-side handler, once per message id); tests pass a fake. A
protocol, so neither has to inherit from anything.
"""

from __future__ import annotations

from typing import Protocol

from kingdom.domain.shared import Event


class EventConsumer(Protocol):
    async def consume(self, event: Event, *, trace_parent: str | None = None) -> None:
        """Run every handler for ``event``; raise if one failed (the message is retried).

        ``trace_parent`` is the W3C ``traceparent`` of the request that caused it.
        """
