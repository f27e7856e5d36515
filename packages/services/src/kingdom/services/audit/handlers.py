"""The audit trail's worker handler: one entry per committed event.

Run by :class:`~kingdom.services.consumers.Consumer`, which makes a redelivery
a no-op through the inbox. The handler also checks for an entry of its own, so
a message redelivered after its inbox entry was pruned is still recorded once.
"""

from __future__ import annotations

from kingdom.domain.shared import Event
from kingdom.services.audit.entries import audit_entry
from kingdom.services.causation import current_actor_id, current_request_id
from kingdom.services.ports import Clock, UnitOfWork


async def record_audit(
    event: Event, uow: UnitOfWork, clock: Clock, trace_parent: str | None = None
) -> None:
    """Add the audit entry describing ``event`` (if it is not there yet), and commit."""
    entry = audit_entry(
        event,
        recorded_at=clock.now(),
        trace_parent=trace_parent,
        # The command's actor and request, which the worker sets from the
        # message while consuming.
        actor_id=current_actor_id(),
        request_id=current_request_id(),
    )
    async with uow:
        if await uow.audit.find(event.message_id) is None:
            uow.audit.add(entry)
        # Also with nothing new: the consumer's inbox entry commits with it.
        await uow.commit()
