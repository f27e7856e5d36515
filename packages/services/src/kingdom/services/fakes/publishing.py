"""Recorders for the outbound ports; each can be told to fail, to test isolation."""

from __future__ import annotations

from dataclasses import dataclass

from kingdom.domain.shared import Event
from kingdom.services.ports import ExternalPublisher, Mailer


class RecordingPublisher(ExternalPublisher):
    def __init__(self) -> None:
        self.published: list[Event] = []
        self.failure: Exception | None = None

    async def publish(self, event: Event) -> None:
        if self.failure is not None:
            raise self.failure
        self.published.append(event)


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
