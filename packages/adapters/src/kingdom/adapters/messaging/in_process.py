"""The embedded default's external publisher: events stay in this process.

Every committed event is already in the outbox table (written in the same
transaction as the change); delivering it to other systems is the job of the
SQS relay and workers. Without one configured, publishing means logging the
event at INFO on ``kingdom.events`` (the server's default level), so what
happens can be watched in the log as the README promises.
"""

from __future__ import annotations

import logging

from kingdom.domain.shared import Event
from kingdom.services.ports import ExternalPublisher

logger = logging.getLogger("kingdom.events")


class InProcessPublisher(ExternalPublisher):
    async def publish(self, event: Event) -> None:
        logger.info("event %s %s", type(event).__name__, event.message_id)
