"""The mail worker on the fakes: queued by the reset request, sent once by the consumer."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from kingdom.domain.identity import PasswordResetRequested, RequestPasswordReset
from kingdom.domain.shared import Conflict
from kingdom.services.audit import record_audit
from kingdom.services.causation import in_request
from kingdom.services.consumers import WORKER_HANDLERS, HandlersFailed
from kingdom.services.fakes import FakeApp
from kingdom.services.identity.password_reset import RESET_SUBJECT, RESET_TOKEN_TTL
from kingdom.services.mail import send_mail
from kingdom.services.ports import OutgoingMail, PermanentMailFailure, TemporaryMailFailure

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
HANDLER = "kingdom.services.mail.handlers.send_mail"


async def reset_requested(app: FakeApp, email: str = "ann@example.org") -> PasswordResetRequested:
    """Ann exists and asks for a code; the events before the request are delivered already."""
    if await app.bus.handle(RequestPasswordReset(meta=app.meta(), email=email)) is not None:
        raise AssertionError("a reset request answers nothing")
    event = app.store.outbox[-1]
    assert isinstance(event, PasswordResetRequested)
    return event


async def register(app: FakeApp, email: str) -> None:
    """Register ``email`` and let the workers send its welcome; then forget what was sent."""
    await app.register(email)
    await app.deliver_events()
    app.mailer.sent.clear()
    app.mailer.attempts = 0


@pytest.fixture()
async def app() -> FakeApp:
    app = FakeApp()
    await register(app, "ann@example.org")
    return app


async def test_the_reset_request_queues_the_rendered_mail_and_sends_nothing(app: FakeApp) -> None:
    event = await reset_requested(app)

    [secret] = app.secrets.issued
    assert app.store.outgoing_mail == {
        event.message_id: OutgoingMail(
            id=event.message_id,
            recipient="ann@example.org",
            subject=RESET_SUBJECT,
            body=app.store.outgoing_mail[event.message_id].body,
            created_at=app.clock.now(),
            expires_at=app.clock.now() + RESET_TOKEN_TTL,
        )
    }
    assert f"Your reset code: {secret}\n" in app.store.outgoing_mail[event.message_id].body
    assert app.mailer.attempts == 0
    assert secret not in repr(event)


async def test_the_worker_sends_it_once_however_often_the_event_arrives(app: FakeApp) -> None:
    event = await reset_requested(app)
    body = app.store.outgoing_mail[event.message_id].body

    for _delivery in range(3):
        # The request that asked for the code: the worker sets it from the message.
        with in_request("req-7"):
            await app.consumer.consume(event, trace_parent=TRACE)

    [mail] = app.mailer.sent
    assert (mail.to, mail.subject, mail.body) == ("ann@example.org", RESET_SUBJECT, body)
    assert mail.headers == {"traceparent": TRACE, "X-Request-ID": "req-7"}
    assert app.store.outgoing_mail == {}
    assert (event.message_id, HANDLER) in app.store.inbox


async def test_a_redelivery_after_the_inbox_entry_was_pruned_sends_nothing(app: FakeApp) -> None:
    event = await reset_requested(app)
    await app.consumer.consume(event)
    async with app.unit_of_work() as uow:
        await uow.inbox.prune(app.clock.now() + timedelta(seconds=1))
        await uow.commit()

    await app.consumer.consume(event)  # a very late redelivery: the mail is gone

    assert len(app.mailer.sent) == 1


async def test_a_temporary_failure_is_retried_until_the_mail_goes(app: FakeApp) -> None:
    event = await reset_requested(app)
    app.mailer.failure = TemporaryMailFailure("connect: ConnectionRefusedError")

    for _attempt in range(2):
        with pytest.raises(HandlersFailed) as failed:
            await app.consumer.consume(event)
        assert isinstance(failed.value.failures[HANDLER], TemporaryMailFailure)
    assert event.message_id in app.store.outgoing_mail  # nothing committed
    assert (event.message_id, HANDLER) not in app.store.inbox

    app.mailer.failure = None
    await app.consumer.consume(event)  # the queue's next delivery

    assert len(app.mailer.sent) == 1
    assert app.mailer.attempts == 3
    assert app.store.outgoing_mail == {}


async def test_a_permanent_failure_drops_the_mail_with_one_log_line(
    app: FakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    event = await reset_requested(app)
    app.mailer.failure = PermanentMailFailure("recipient refused: 550 5.1.1")
    caplog.set_level(logging.DEBUG)

    await app.consumer.consume(event)  # handled: not retried, no dead-letter queue needed
    await app.consumer.consume(event)

    assert app.mailer.attempts == 1
    assert app.store.outgoing_mail == {}
    lines = [r for r in caplog.records if r.name.startswith("kingdom.services.mail")]
    assert [(r.levelno, r.getMessage()) for r in lines] == [
        (
            logging.WARNING,
            f"mail {event.message_id} refused for good (recipient refused: 550 5.1.1); dropped",
        )
    ]
    assert "ann@example.org" not in caplog.text


async def test_an_expired_mail_is_dropped_unsent_and_others_are_pruned(app: FakeApp) -> None:
    await register(app, "bob@example.org")
    anns = await reset_requested(app, "ann@example.org")
    bobs = await reset_requested(app, "bob@example.org")
    app.clock.advance(RESET_TOKEN_TTL)

    await app.consumer.consume(anns)

    assert app.mailer.attempts == 0
    assert app.store.outgoing_mail == {}  # Bob's expired too: pruned on the way
    await app.consumer.consume(bobs)
    assert app.mailer.attempts == 0


async def test_an_event_that_queued_no_mail_sends_nothing(app: FakeApp) -> None:
    event = await reset_requested(app)
    app.store.outgoing_mail.clear()  # say, sent by a worker whose inbox entry was lost

    await app.consumer.consume(event)

    assert app.mailer.sent == []
    assert (event.message_id, HANDLER) in app.store.inbox


@pytest.mark.parametrize("trace", [None, "", "not-a-trace", TRACE + "\r\nBcc: x@example.org"])
async def test_only_a_well_formed_traceparent_becomes_a_header(app: FakeApp, trace: str) -> None:
    event = await reset_requested(app)

    await app.consumer.consume(event, trace_parent=trace)

    [mail] = app.mailer.sent
    assert mail.headers == {}


@pytest.mark.parametrize(
    "request_id", [None, "", "bad id", "x" * 65, "req-1\r\nBcc: x@example.org"]
)
async def test_only_a_well_formed_request_id_becomes_a_header(
    app: FakeApp, request_id: str | None
) -> None:
    event = await reset_requested(app)

    with in_request(request_id):
        await app.consumer.consume(event)

    [mail] = app.mailer.sent
    assert mail.headers == {}


async def test_the_code_reaches_no_log_line(app: FakeApp, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    event = await reset_requested(app)
    app.mailer.failure = TemporaryMailFailure("send: 451 4.3.0")
    with pytest.raises(HandlersFailed):
        await app.deliver_events()
    app.mailer.failure = None
    await app.deliver_events()
    await app.consumer.consume(event)  # a redelivery, skipped

    [secret] = app.secrets.issued
    assert secret in app.mailer.sent[0].body
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join(formatter.format(record) for record in caplog.records)  # with tracebacks
    assert "worker handler" in logged  # the temporary failure was logged...
    assert secret not in logged  # ...and nothing said the code


def test_reset_requests_go_to_the_audit_trail_then_to_the_mail_worker() -> None:
    assert WORKER_HANDLERS[PasswordResetRequested] == (record_audit, send_mail)


async def test_a_mail_removed_in_a_unit_of_work_is_gone_from_it_and_deleted_on_commit(
    app: FakeApp,
) -> None:
    event = await reset_requested(app)
    async with app.unit_of_work() as uow:
        mail = await uow.outgoing_mail.find(event.message_id)
        assert mail is not None
        uow.outgoing_mail.remove(mail)
        assert await uow.outgoing_mail.find(event.message_id) is None
        assert event.message_id in app.store.outgoing_mail  # until the commit
        await uow.commit()
    assert app.store.outgoing_mail == {}


async def test_a_mail_added_and_removed_in_one_unit_of_work_is_never_written(app: FakeApp) -> None:
    now = app.clock.now()
    mail = OutgoingMail("m-1", "ann@example.org", "hi", "body", now, now + timedelta(minutes=1))
    async with app.unit_of_work() as uow:
        uow.outgoing_mail.add(mail)
        with pytest.raises(Conflict):
            uow.outgoing_mail.add(mail)
        uow.outgoing_mail.remove(mail)
        await uow.commit()
    assert app.store.outgoing_mail == {}


async def test_only_a_mail_of_this_unit_of_work_can_be_removed(app: FakeApp) -> None:
    now = app.clock.now()
    stranger = OutgoingMail("m-2", "ann@example.org", "hi", "body", now, now)
    async with app.unit_of_work() as uow:
        with pytest.raises(ValueError, match="not found in this unit of work"):
            uow.outgoing_mail.remove(stranger)
