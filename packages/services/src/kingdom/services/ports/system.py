"""Time and identity: the two sources of non-determinism every handler needs.

The domain never reads a clock or invents an id itself (see
:class:`~kingdom.domain.shared.MessageMeta`); handlers get both through these
ports, so tests can pin them down.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime


class Clock(ABC):
    @abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC in production)."""


class IdGenerator(ABC):
    @abstractmethod
    def new_id(self) -> str:
        """A fresh, unique id: short, printable, no whitespace (it may become a policy selector)."""
