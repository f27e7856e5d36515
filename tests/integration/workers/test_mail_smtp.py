"""Mail by real SMTP, on SQLite and PostgreSQL: queued by the request, sent by the workers.

Reset codes, and the mails of registration: a new user's welcome and the
notice to the owner of an address someone tried to register again.

A mail server (aiosmtpd) runs on 127.0.0.1 in a thread of the test. The
request goes through the real bus on the SQL unit of work; the outbox is
relayed to the real workers' consumer in-process, as the embedded server
does it, and the consumer's mail handler talks SMTP to that server.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from integration.adapters.support import SqlApp, count, outbox_rows, schema_database
from kingdom.adapters.messaging.smtp import SmtpMailer
from kingdom.adapters.sql.audit import audit_entries
from kingdom.adapters.sql.engine import Database
from kingdom.adapters.sql.outbox import outbox
from kingdom.adapters.sql.outgoing_mail import outgoing_mail
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.identity import (
    PasswordResetRequested,
    RegisterUser,
    RequestPasswordReset,
    ResetPassword,
)
from kingdom.services.causation import in_request
from kingdom.services.consumers import build_consumer
from kingdom.services.fakes import RecordingMailer
from kingdom.services.identity.password_reset import RESET_SUBJECT
from kingdom.services.identity.registration import (
    REGISTRATION_NOTICE_INTERVAL,
    TAKEN_ADDRESS_SUBJECT,
    WELCOME_SUBJECT,
)

ANN = "ann@example.org"
SENDER = "Kingdom <kingdom@example.org>"
CODE = re.compile(r"Your reset code: (\S+)")
WORKER_LOGGERS = (
    "kingdom.services.mail",
    "kingdom.services.consumers",
    "kingdom.workers",
    "kingdom.relay",
)
NOT_OURS = frozenset({"mail.log", "aiosqlite"})
"""Loggers whose DEBUG lines may show the code, and why that is acceptable:
``mail.log`` is aiosmtpd's, the test's mail server (the receiving end);
``aiosqlite`` traces every statement with its parameters at DEBUG (password
hashes too), which the server's logging (INFO) never turns on."""


class Collector:
    """A mailbox: accepts every message, or refuses recipients with ``refusal`` while set."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refusal: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.refusal is not None:
            return self.refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = cast(bytes, envelope.original_content or envelope.content)
        self.messages.append(message_from_bytes(content, policy=policy.default))
        self.envelopes.append((str(envelope.mail_from), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def mail_server(handler: Collector, port: int) -> Iterator[Controller]:
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture()
async def database(database_url: str) -> AsyncIterator[Database]:
    async with schema_database(database_url) as database:
        yield database


@pytest.fixture()
def mailbox() -> Iterator[tuple[Collector, int]]:
    collector, port = Collector(), free_port()
    with mail_server(collector, port):
        yield collector, port


async def ann_asks_for_a_code(app: SqlApp) -> None:
    """Ann registers (her welcome goes out, through the recording mailer), then asks for a code."""
    await app.bus.handle(
        RegisterUser(meta=app.meta(), email=ANN, display_name="Ann", password="pw-12345678")
    )
    assert await app.deliver_events() == 1
    await app.bus.handle(RequestPasswordReset(meta=app.meta(), email=ANN))


async def queued_mails(database: Database) -> int:
    async with database.engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(outgoing_mail))).scalar_one()
        )


async def unpublished(database: Database) -> int:
    query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    async with database.engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


def code_in(message: EmailMessage) -> str:
    body = message.get_body()
    assert body is not None
    found = CODE.search(body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)


def kingdoms_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every line logged (tracebacks included) but those of :data:`NOT_OURS`."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(
        formatter.format(record) for record in caplog.records if record.name not in NOT_OURS
    )


def delivery_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the workers logged about delivering (the consumer, the relay, the mail handler)."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(
        formatter.format(record)
        for record in caplog.records
        if record.name.startswith(WORKER_LOGGERS)
    )


async def test_the_code_arrives_by_smtp_and_resets_the_password(
    database: Database, mailbox: tuple[Collector, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    collector, port = mailbox
    app = SqlApp(database)

    with in_request("req-reset-1"):  # as the HTTP layer sets it while serving the request
        await ann_asks_for_a_code(app)

    assert collector.messages == []  # the request answered without the mail server
    assert await queued_mails(database) == 1
    published = await app.deliver_events(SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER))

    assert published == 1  # the reset request (the registration went before)
    [message] = collector.messages
    assert collector.envelopes == [("kingdom@example.org", [ANN])]
    assert (message["To"], message["From"], message["Subject"]) == (ANN, SENDER, RESET_SUBJECT)
    assert message["Date"]
    assert message["Message-ID"].endswith("@example.org>")
    # The request rode the outbox row to the worker, which names it in the mail.
    assert message["X-Request-ID"] == "req-reset-1"
    code = code_in(message)
    assert await queued_mails(database) == 0  # the plain-text code is gone from the database
    await app.bus.handle(ResetPassword(meta=app.meta(), token=code, new_password="battery staple"))
    assert code not in kingdoms_log(caplog)


async def test_a_refused_recipient_is_dropped_with_one_log_line(
    database: Database, mailbox: tuple[Collector, int], caplog: pytest.LogCaptureFixture
) -> None:
    collector, port = mailbox
    collector.refusal = "550 5.1.1 <ann@example.org>: no such user"
    app = SqlApp(database)
    await ann_asks_for_a_code(app)
    caplog.set_level(logging.DEBUG)

    await app.deliver_events(SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER))

    assert await unpublished(database) == 0  # handled: not offered again
    assert await queued_mails(database) == 0
    [line] = [r for r in caplog.records if r.name == "kingdom.services.mail.handlers"]
    assert line.levelno == logging.WARNING
    assert line.getMessage().endswith("refused for good (recipient refused: 550 5.1.1); dropped")
    assert ANN not in delivery_log(caplog)
    assert app.secrets.issued[0] not in kingdoms_log(caplog)
    assert collector.messages == []


@pytest.mark.parametrize("outage", ["stopped", "451"])
async def test_a_mail_that_could_not_go_goes_once_the_server_is_back(
    database: Database, outage: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    collector, port = Collector(), free_port()
    mailer = SmtpMailer(f"smtp://127.0.0.1:{port}?timeout=5", SENDER)
    app = SqlApp(database)
    await ann_asks_for_a_code(app)

    if outage == "stopped":  # nothing listens on the port
        assert await app.deliver_events(mailer) == 0  # not the reset
    else:
        collector.refusal = "451 4.3.0 try again later"
        with mail_server(collector, port):
            assert await app.deliver_events(mailer) == 0
        collector.refusal = None

    assert await unpublished(database) == 1  # offered again by the relay's next round
    assert await queued_mails(database) == 1
    with mail_server(collector, port):
        assert await app.deliver_events(mailer) == 1

    [message] = collector.messages
    code = code_in(message)
    await app.bus.handle(ResetPassword(meta=app.meta(), token=code, new_password="battery staple"))
    assert await queued_mails(database) == 0
    assert "TemporaryMailFailure" in delivery_log(caplog)  # the failed attempt was logged...
    assert code not in kingdoms_log(caplog)  # ...without the code
    assert ANN not in delivery_log(caplog)  # or the recipient


class SlowMailer(RecordingMailer):
    """Takes a while to hand a mail over, so two deliveries overlap."""

    async def send(
        self, to: str, subject: str, body: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        await asyncio.sleep(0.1)
        await super().send(to, subject, body, headers=headers)


async def test_deliveries_at_once_send_the_mail_once(database: Database) -> None:
    app = SqlApp(database)
    await ann_asks_for_a_code(app)
    [event] = [e for e in app.published if isinstance(e, PasswordResetRequested)]
    mailer = SlowMailer()
    consumer = build_consumer(
        uow_factory=lambda: SqlUnitOfWork(database),
        dependencies={"clock": app.clock, "mailer": mailer},
        retry=app.retry,
    )

    await asyncio.gather(*(consumer.consume(event) for _delivery in range(3)))

    # The second waited on the mail's row (or SQLite's writer) and found it gone.
    assert len(mailer.sent) == 1
    assert await queued_mails(database) == 0


# Registration: a welcome for a new address, a notice for a taken one.

MALLORY_PASSWORD, MALLORY_NAME = "mallory's password", "Mallory <https://evil.example>"


async def test_the_welcome_and_the_taken_address_notice_arrive_by_smtp(
    database: Database, mailbox: tuple[Collector, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    collector, port = mailbox
    app = SqlApp(database)

    ann = await app.bus.handle(
        RegisterUser(meta=app.meta(), email=ANN, display_name="Ann", password="pw-12345678")
    )
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)  # the registration no longer paces a notice
    again = await app.bus.handle(
        RegisterUser(
            meta=app.meta(),
            email="Ann@Example.org",
            display_name=MALLORY_NAME,
            password=MALLORY_PASSWORD,
        )
    )

    assert again != ann  # a fresh id naming nobody, as ever
    assert collector.messages == []  # both answered without the mail server
    assert await queued_mails(database) == 2  # one mail each
    registered, attempted = await outbox_rows(database)  # and one event each
    assert (registered["event_type"], attempted["event_type"]) == (
        "identity.UserRegistered",
        "identity.RegistrationAttemptedOnTakenAddress",
    )
    assert attempted["payload"]["user_id"] == ann
    assert set(attempted["payload"]) == {"meta", "user_id"}  # no address, nothing supplied

    assert await app.deliver_events(SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER)) == 2

    welcome, notice = collector.messages
    assert collector.envelopes == [("kingdom@example.org", [ANN])] * 2
    assert (welcome["To"], welcome["From"], welcome["Subject"]) == (ANN, SENDER, WELCOME_SUBJECT)
    assert (notice["To"], notice["From"], notice["Subject"]) == (
        ANN,
        SENDER,
        TAKEN_ADDRESS_SUBJECT,
    )
    for message in (welcome, notice):
        body = message.get_body()
        assert body is not None
        for supplied in ("pw-12345678", MALLORY_PASSWORD, MALLORY_NAME, "Mallory"):
            assert supplied not in body.get_content()
    assert await queued_mails(database) == 0
    assert await unpublished(database) == 0
    assert await count(database, audit_entries) == 1  # the registration; an attempt changes nothing
    assert ANN not in delivery_log(caplog)


async def test_a_taken_address_gets_one_notice_per_interval_on_the_shared_throttle(
    database: Database, mailbox: tuple[Collector, int]
) -> None:
    collector, port = mailbox
    app = SqlApp(database)

    async def register(email: str) -> None:
        await app.bus.handle(
            RegisterUser(meta=app.meta(), email=email, display_name="X", password="pw-12345678")
        )

    await register(ANN)
    for _attempt in range(3):  # right after registering it: paced
        await register(ANN)
    app.clock.advance(REGISTRATION_NOTICE_INTERVAL)
    for _attempt in range(3):  # one notice, then paced again
        await register(ANN)

    assert [row["event_type"] for row in await outbox_rows(database)] == [
        "identity.UserRegistered",
        "identity.RegistrationAttemptedOnTakenAddress",
    ]
    await app.deliver_events(SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER))
    assert [message["Subject"] for message in collector.messages] == [
        WELCOME_SUBJECT,
        TAKEN_ADDRESS_SUBJECT,
    ]
