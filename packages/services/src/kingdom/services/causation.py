"""Who caused what is being committed: the acting user, carried beside the work.

The message bus sets :data:`ACTOR_ID` while it handles a command that names
an actor; the unit of work copies it onto the outbox rows the command
commits; a worker sets it again from the message while it consumes, so the
audit trail can say who did what, although events themselves name no actor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

ACTOR_ID: Final[ContextVar[str | None]] = ContextVar("kingdom_actor_id", default=None)
"""The user on whose behalf the current work runs; ``None``: nobody (the system, a stranger)."""


def current_actor_id() -> str | None:
    return ACTOR_ID.get()


@contextmanager
def acting_as(actor_id: str | None) -> Iterator[None]:
    """``with acting_as(user_id):`` makes ``user_id`` the actor for the block."""
    token = ACTOR_ID.set(actor_id)
    try:
        yield
    finally:
        ACTOR_ID.reset(token)
