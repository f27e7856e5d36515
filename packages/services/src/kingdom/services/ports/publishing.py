"""E-mail going out: the transport (:class:`Mailer`) and the queue in front of it.

A request handler never talks to a mail server: it stages an
:class:`OutgoingMail` in its unit of work (``uow.outgoing_mail``), committed
with the change the mail tells about, and the event announcing that change
shares its ``message_id`` with the mail. A worker handler
(:func:`kingdom.services.mail.handlers.send_mail`) later hands the mail to the
:class:`Mailer` and deletes it. So nothing is mailed that was rolled back,
and the request does not wait for a mail server. (Events leave through the
outbox: :mod:`.outbox`.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from kingdom.domain.shared import Conflict
from kingdom.services.ports.tracking import Keeper, Tracker


class MailFailure(Exception):
    """The mail could not be handed over. The message names no recipient and no body."""


class TemporaryMailFailure(MailFailure):
    """Try again later: the server was unreachable, or answered 4xx (or is misconfigured)."""


class PermanentMailFailure(MailFailure):
    """The server refused this message for good (5xx to its recipient or content)."""


class Mailer(ABC):
    @abstractmethod
    async def send(
        self, to: str, subject: str, body: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        """Hand a plain-text e-mail to the transport, or raise a :class:`MailFailure`.

        ``headers`` are added to the message (``traceparent``,
        ``X-Request-ID``...); the adapter sets From, To, Subject, Date and
        Message-ID itself. Only worker handlers call this: it may take as
        long as the mail server does.
        """


@dataclass(frozen=True)
class OutgoingMail:
    """A rendered mail waiting for the worker that sends it; it may carry a secret.

    ``id`` is the ``message_id`` of the event committed with it, which is how
    the worker finds it. Kept only until it is sent, refused, or
    ``expires_at`` passes (what it says is worthless then: a reset code has expired).
    """

    id: str
    recipient: str
    subject: str
    body: str
    created_at: datetime
    expires_at: datetime


class OutgoingMailbox(Keeper[OutgoingMail]):
    """The mails waiting to be sent, in one unit of work: added and removed on commit.

    Adapters write a change with :meth:`removed` in mind: a removed mail is
    deleted, a new one inserted (one added and removed in the same unit of
    work is never written).
    """

    noun = "outgoing mail"

    def __init__(self, tracker: Tracker | None = None) -> None:
        super().__init__(tracker)
        self._removed: set[str] = set()

    def add(self, mail: OutgoingMail) -> None:
        """Stage ``mail``; one with the same id conflicts (here, or at commit)."""
        if mail.id in self._seen:
            raise Conflict(f"{self.noun} {mail.id!r} already exists")
        self._stage(mail)

    async def find(self, mail_id: str) -> OutgoingMail | None:
        """The mail ``mail_id``, or ``None`` (never stored, already sent, removed here).

        A SQL adapter locks the row for the rest of the transaction, so a
        concurrent delivery of the same message waits and then finds it gone.
        """
        if mail_id in self._removed:
            return None
        if mail_id in self._seen:
            return self._seen[mail_id]
        return self._track(await self._find(mail_id))

    def remove(self, mail: OutgoingMail) -> None:
        """Delete ``mail`` (found or added here) when the unit of work commits."""
        if self._seen.get(mail.id) is not mail:
            raise ValueError(f"{self.noun} {mail.id!r} was not found in this unit of work")
        self._removed.add(mail.id)

    def removed(self, mail: OutgoingMail) -> bool:
        return mail.id in self._removed

    def changed(self, record: OutgoingMail) -> bool:
        return self.removed(record)  # never updated: written once, then deleted

    def stored(self, record: OutgoingMail) -> None:
        pass

    @abstractmethod
    async def _find(self, mail_id: str) -> OutgoingMail | None: ...

    @abstractmethod
    async def prune(self, now: datetime) -> int:
        """Delete the mails that expired by ``now``; returns how many.

        In the unit of work's transaction (the in-memory fake deletes at once:
        its only caller commits right after).
        """
