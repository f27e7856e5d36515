"""Talking to the outside world after the fact: event streams and e-mail.

Both are called only once a transaction has committed, so nothing is ever
announced (or mailed) that was later rolled back.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from kingdom.domain.shared import Event


class ExternalPublisher(ABC):
    @abstractmethod
    async def publish(self, event: Event) -> None:
        """Hand a committed domain event to other systems (a broker, a webhook...)."""


class Mailer(ABC):
    @abstractmethod
    async def send(self, to: str, subject: str, body: str) -> None:
        """Deliver (or durably queue) a plain-text e-mail.

        Implementations should queue rather than talk SMTP inline: the caller
        is waiting, and a slow send would also make "known address" answers
        measurably slower than "unknown address" ones.
        """
