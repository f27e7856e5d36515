"""Stamping new events: a unique id and the current time, both from ports."""

from __future__ import annotations

from kingdom.domain.shared import MessageMeta
from kingdom.services.ports import Clock, IdGenerator


def new_meta(clock: Clock, ids: IdGenerator) -> MessageMeta:
    """Metadata for one new message; call once per event, since ids must not repeat."""
    return MessageMeta(message_id=ids.new_id(), occurred_at=clock.now())
