"""A recorder for outgoing mail; it can be told to fail, to test retries and isolation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kingdom.services.ports import Mailer


@dataclass(frozen=True)
class SentMail:
    to: str
    subject: str
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


class RecordingMailer(Mailer):
    def __init__(self) -> None:
        self.sent: list[SentMail] = []
        self.failure: Exception | None = None
        """Raised by every :meth:`send` while set (a mail server that is down, or refuses)."""
        self.attempts = 0

    async def send(
        self, to: str, subject: str, body: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.attempts += 1
        if self.failure is not None:
            raise self.failure
        self.sent.append(SentMail(to, subject, body, dict(headers or {})))
