"""Spans through the tracer port: the bus's command, the relay's sends, the consumer's work."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import count

import pytest

from kingdom.domain.shared import Command, Event, Invalid, MessageMeta
from kingdom.services.consumers import Consumer
from kingdom.services.fakes import EPOCH, FakeClock, FakeUnitOfWork, InMemoryStore
from kingdom.services.fakes.outbox import InMemoryOutbox, RecordingTransport, messages
from kingdom.services.fakes.tracing import RecordingTracer
from kingdom.services.messagebus import MessageBus
from kingdom.services.ports import UnitOfWork
from kingdom.services.relay import OutboxRelay
from kingdom.services.tracing import (
    TRACER,
    current_trace_parent,
    in_trace,
    trace_id_of,
)

REQUEST = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
OTHER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
_ids = count(1)


def meta() -> MessageMeta:
    return MessageMeta(f"m-{next(_ids)}", datetime(2024, 1, 1, tzinfo=UTC))


@dataclass(frozen=True, kw_only=True)
class Ping(Command):
    fail: bool = False


@dataclass(frozen=True, kw_only=True)
class Pinged(Event):
    pass


def bus_with(tracer: RecordingTracer, seen: list[str | None]) -> MessageBus:
    async def ping(command: Ping) -> str:
        seen.append(current_trace_parent())  # what a commit here would write to the outbox
        if command.fail:
            raise Invalid("no")
        return "pong"

    return MessageBus(
        uow_factory=lambda: FakeUnitOfWork(InMemoryStore()),
        command_handlers={Ping: ping},
        event_handlers={},
        dependencies={TRACER: tracer},
    )


async def test_a_command_is_a_span_under_the_request_and_current_while_it_runs() -> None:
    tracer, seen = RecordingTracer(), list[str | None]()
    bus = bus_with(tracer, seen)

    with in_trace(REQUEST):
        assert await bus.handle(Ping(meta=meta())) == "pong"
        assert current_trace_parent() == REQUEST  # restored after the command

    (span,) = tracer.spans
    assert (span.name, span.parent, span.kind, span.ended) == (
        "command Ping",
        REQUEST,
        "internal",
        True,
    )
    assert span.trace_id == trace_id_of(REQUEST)
    assert seen == [span.trace_parent]


async def test_a_failing_command_marks_its_span_with_the_error_type() -> None:
    tracer = RecordingTracer()
    bus = bus_with(tracer, [])

    with pytest.raises(Invalid):
        await bus.handle(Ping(meta=meta(), fail=True))

    (span,) = tracer.spans
    assert span.error == "Invalid"
    assert span.parent is None  # no request around it: a trace of its own


async def test_each_message_is_sent_in_a_span_of_its_own_trace_and_names_it_as_parent() -> None:
    outbox = InMemoryOutbox(FakeClock())
    first, second, untraced = messages(3, EPOCH)
    outbox.add(
        *(
            replace(message, trace_parent=trace)
            for message, trace in ((first, REQUEST), (second, OTHER), (untraced, None))
        )
    )
    transport, tracer = RecordingTransport(refuse={second.message_id}), RecordingTracer()
    relay = OutboxRelay(outbox, transport, outbox.clock, tracer=tracer)

    assert await relay.relay_once() == 2

    spans = tracer.named("publish ")
    assert [(s.parent, s.kind) for s in spans] == [
        (REQUEST, "producer"),
        (OTHER, "producer"),
        (None, "producer"),
    ]
    assert [s.attributes["messaging.message.id"] for s in spans] == [
        first.message_id,
        second.message_id,
        untraced.message_id,
    ]
    # What went out names the send's span, in the same trace as the request.
    sent = {m.message_id: m.trace_parent for m in transport.sent}
    assert sent == {
        first.message_id: spans[0].trace_parent,
        untraced.message_id: spans[2].trace_parent,
    }
    assert trace_id_of(sent[first.message_id]) == trace_id_of(REQUEST)
    assert [s.error for s in spans] == [None, "refused by the transport", None]
    assert all(s.ended for s in spans)
    assert current_trace_parent() is None


async def test_without_a_tracer_messages_go_with_their_requests_trace_parent() -> None:
    outbox = InMemoryOutbox(FakeClock())
    (message,) = messages(1, EPOCH)
    outbox.add(replace(message, trace_parent=REQUEST))
    transport = RecordingTransport()

    await OutboxRelay(outbox, transport, outbox.clock).relay_once()

    assert [m.trace_parent for m in transport.sent] == [REQUEST]


async def test_consuming_is_a_span_under_the_messages_trace_parent() -> None:
    tracer, seen = RecordingTracer(), []

    async def handler(event: Event, uow: UnitOfWork, trace_parent: str | None) -> None:
        seen.append((trace_parent, current_trace_parent()))
        async with uow:
            await uow.commit()

    store = InMemoryStore()
    consumer = Consumer(
        uow_factory=lambda: FakeUnitOfWork(store),
        handlers={Pinged: [handler]},
        dependencies={"clock": FakeClock(), TRACER: tracer},
    )
    event = Pinged(meta=meta())

    await consumer.consume(event, trace_parent=REQUEST)

    (span,) = tracer.spans
    assert (span.name, span.parent, span.kind) == ("consume Pinged", REQUEST, "consumer")
    assert span.attributes == {"messaging.message.id": event.message_id}
    # The handler is given the delivery's trace parent; its own work is in the span.
    assert seen == [(REQUEST, span.trace_parent)]
