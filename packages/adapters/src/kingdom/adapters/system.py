"""The real clock and id generator behind the services' ports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kingdom.services.ports import Clock, IdGenerator


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class UuidIds(IdGenerator):
    """Random UUIDv4 strings: unguessable, so an id leaks nothing about its neighbours."""

    def new_id(self) -> str:
        return str(uuid.uuid4())
