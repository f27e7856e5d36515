"""Relaying committed events to other systems through the external publisher."""

from __future__ import annotations

from collections.abc import Mapping

from kingdom.domain.shared import Event
from kingdom.services.injection import Handler
from kingdom.services.ports import ExternalPublisher


async def publish_externally(event: Event, publisher: ExternalPublisher) -> None:
    """Hand every committed domain event to the publisher.

    Events carry no secrets (see :mod:`kingdom.domain.identity.events`), so all
    of them may leave the process.
    """
    await publisher.publish(event)


EVENT_HANDLERS: Mapping[type[Event], tuple[Handler, ...]] = {
    # Subscribed to the base class: the bus matches handlers along the MRO.
    Event: (publish_externally,),
}
