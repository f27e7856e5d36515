"""The mail worker: sends the outgoing mail an event's commit queued, then forgets it.

Request handlers do not talk to a mail server (a slow or failing one would
hold up, or fail, the request, and the time it takes would tell a known
address from an unknown one). Instead the handler stages an
:class:`~kingdom.services.ports.OutgoingMail` — the rendered message — in the
transaction that makes the change, under the ``message_id`` of the event
that announces it. This worker handler, subscribed to that event, loads the
mail, hands it to the :class:`~kingdom.services.ports.Mailer`, deletes it and
commits (the consumer's inbox entry commits with the deletion).

**Why a secret sits in the database, briefly.** A password-reset mail carries
the reset code in plain text, and the code must reach the worker without
travelling in an event (events are relayed, queued, logged and audited) or
in a log line. The ``outgoing_mail`` row is the one place it lives in
clear: written with the token (which stores only the code's hash), readable
by whoever can read the database (operators, backups taken in that window),
and deleted as soon as the mail is handed over, refused for good, or found
expired — at the latest, the next time this handler runs after the code's
expiry (every run first prunes the expired rows). An expired code is
worthless: its token no longer accepts it.

**Failures.** :class:`~kingdom.services.ports.TemporaryMailFailure` (server
unreachable, 4xx, a server that will not take our mail at all) propagates:
nothing is committed, the queue (SQS, or the embedded relay) delivers the
event again, and a later attempt sends the mail — unless it expired
meanwhile, when it is dropped unsent. A
:class:`~kingdom.services.ports.PermanentMailFailure` (5xx for this
recipient or message) will not get better with retries, and the embedded
transport has no dead-letter queue to park it in: the handler logs one
line (the mail's id and the server's code: no recipient, no body) and
deletes the mail, and the message counts as handled.

Delivery is at least once: a worker that dies between handing the mail over
and committing the deletion sends it again on redelivery. A concurrent
second delivery of the same event waits for the first on the mail's row
lock (PostgreSQL; SQLite has one writer) and then finds nothing to send.
The transaction stays open while the mail server answers: on SQLite that
holds the database's write lock, so the SMTP timeout bounds the wait.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from kingdom.domain.shared import Event
from kingdom.services.causation import current_request_id, well_formed_request_id
from kingdom.services.ports import (
    Clock,
    Mailer,
    OutgoingMail,
    PermanentMailFailure,
    UnitOfWork,
)

logger = logging.getLogger(__name__)

_TRACE_PARENT: Final = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
"""A W3C ``traceparent`` (version-traceid-parentid-flags); it comes from outside."""


async def send_mail(
    event: Event,
    uow: UnitOfWork,
    mailer: Mailer,
    clock: Clock,
    trace_parent: str | None = None,
) -> None:
    """Send the mail queued with ``event`` (if still queued and not expired), delete it, commit.

    Raises :class:`~kingdom.services.ports.TemporaryMailFailure` (or whatever
    else the mailer raised) to have the event delivered again.
    """
    async with uow:
        # First, so that this event's own mail, if it expired, is not sent either.
        pruned = await uow.outgoing_mail.prune(clock.now())
        if pruned:
            logger.warning("dropped %d expired unsent mail(s)", pruned)
        mail = await uow.outgoing_mail.find(event.message_id)
        if mail is not None:
            await _send(mailer, mail, trace_parent)
            uow.outgoing_mail.remove(mail)
        # Also with nothing to send: the consumer's inbox entry commits with it.
        await uow.commit()


async def _send(mailer: Mailer, mail: OutgoingMail, trace_parent: str | None) -> None:
    # The request that queued the mail, for whoever traces a mail back to it.
    headers = {}
    if trace_parent and _TRACE_PARENT.fullmatch(trace_parent):
        headers["traceparent"] = trace_parent
    # Set by the worker from the message: from outside, so checked like the trace.
    request_id = well_formed_request_id(current_request_id())
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    try:
        await mailer.send(mail.recipient, mail.subject, mail.body, headers=headers)
    except PermanentMailFailure as refused:
        # The failure's text is the server's code, never the recipient or body.
        logger.warning("mail %s refused for good (%s); dropped", mail.id, refused)
