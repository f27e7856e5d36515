"""Talking to the outside world after the fact: e-mail.

Called only once a transaction has committed, so nothing is ever mailed that
was later rolled back. (Events leave through the outbox: :mod:`.outbox`.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class Mailer(ABC):
    @abstractmethod
    async def send(self, to: str, subject: str, body: str) -> None:
        """Deliver (or durably queue) a plain-text e-mail.

        Implementations should queue rather than talk SMTP inline: the caller
        is waiting, and a slow send would also make "known address" answers
        measurably slower than "unknown address" ones.
        """
