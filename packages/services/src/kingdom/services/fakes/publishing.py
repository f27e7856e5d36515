"""A recorder for outgoing mail; it can be told to fail, to test isolation."""

from __future__ import annotations

from dataclasses import dataclass

from kingdom.services.ports import Mailer


@dataclass(frozen=True)
class SentMail:
    to: str
    subject: str
    body: str


class RecordingMailer(Mailer):
    def __init__(self) -> None:
        self.sent: list[SentMail] = []
        self.failure: Exception | None = None

    async def send(self, to: str, subject: str, body: str) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append(SentMail(to, subject, body))
