"""Who caused what is being committed: the acting user and the request, carried beside the work.

The message bus sets :data:`ACTOR_ID` while it handles a command that names
an actor, and the HTTP layer sets :data:`REQUEST_ID` while it serves a
request; the unit of work copies both onto the outbox rows it commits; a
worker sets them again from the message while it consumes, so the audit
trail can say who did what, and in which request, although events themselves
name neither.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

ACTOR_ID: Final[ContextVar[str | None]] = ContextVar("kingdom_actor_id", default=None)
"""The user on whose behalf the current work runs; ``None``: nobody (the system, a stranger)."""

REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("kingdom_request_id", default=None)
"""The ``X-Request-ID`` of the HTTP request the current work serves, or stems from.

It is what an operator greps the access log for: carrying it to the audit
entry and the mail ties them to that line. ``None``: no request (a tool, the system).
"""

MAX_REQUEST_ID_LENGTH: Final = 64
_WELL_FORMED: Final = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_REQUEST_ID_LENGTH}}}")
"""The shape the server gives request ids (``kingdom.entrypoints.http.access_log``)."""


def current_actor_id() -> str | None:
    return ACTOR_ID.get()


def current_request_id() -> str | None:
    return REQUEST_ID.get()


def well_formed_request_id(value: str | None) -> str | None:
    """``value`` if it has the shape the server gives request ids, else ``None``.

    A worker's request id came with the message, from outside: what is shown
    (the audit trail) or sent (a mail header) is only ever such a short, safe id.
    """
    return value if value and _WELL_FORMED.fullmatch(value) else None


@contextmanager
def acting_as(actor_id: str | None) -> Iterator[None]:
    """``with acting_as(user_id):`` makes ``user_id`` the actor for the block."""
    token = ACTOR_ID.set(actor_id)
    try:
        yield
    finally:
        ACTOR_ID.reset(token)


@contextmanager
def in_request(request_id: str | None) -> Iterator[None]:
    """``with in_request(request_id):`` makes it the current request id for the block."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


@contextmanager
def caused_by(actor_id: str | None, request_id: str | None) -> Iterator[None]:
    """Both at once: what a worker sets from the message it consumes."""
    with acting_as(actor_id), in_request(request_id):
        yield
