"""The message bus: routes each command to its handler and each event to its subscribers.

Semantics, in the spirit of *Cosmic Python*:

- A command has exactly one handler. Its result is the caller's answer, and
  its failure is the caller's error.
- An event has any number of handlers. Each runs on its own: one that fails
  is logged and the others still run, because an event is a fact that has
  already been committed and cannot be refused any more.
- Events committed while handling a message (by the command handler or by
  event handlers) are handled in turn until none are left, before
  :meth:`MessageBus.handle` returns.
- Every handler invocation gets its own unit of work from the factory, so
  each is its own transaction and a failing event handler cannot undo the
  command that caused the event.
- A command (or event handler) that loses an optimistic-concurrency race is
  run again on fresh data, a bounded number of times, with jittered
  exponential backoff; then the conflict surfaces.
- A command carrying an idempotency key is run through
  :class:`~kingdom.services.idempotency.Idempotency` (on each attempt): a
  repeat is answered from the first run's record.
- Handling a command is a span of the current trace (retries included),
  through the tracer among the dependencies (``"tracer"``; none: no spans).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kingdom.domain.shared import Command, Event, Message
from kingdom.services.causation import acting_as
from kingdom.services.idempotency import Idempotency, idempotency_key_of
from kingdom.services.injection import BoundHandler, Handler, bind
from kingdom.services.ports import ConcurrencyConflict, UnitOfWork
from kingdom.services.retry import RetryPolicy
from kingdom.services.tracing import current_trace_parent, tracer_in

logger = logging.getLogger(__name__)

UnitOfWorkFactory = Callable[[], UnitOfWork]


class NoHandler(LookupError):
    """A command was sent that nobody handles: a wiring mistake, not a user error."""


class MessageBus:
    """Dispatches messages to handlers whose dependencies were bound at construction."""

    def __init__(
        self,
        *,
        uow_factory: UnitOfWorkFactory,
        command_handlers: Mapping[type[Command], Handler],
        event_handlers: Mapping[type[Event], Iterable[Handler]],
        dependencies: Mapping[str, object],
        retry: RetryPolicy | None = None,
        idempotency: Idempotency | None = None,
    ) -> None:
        """Bind every handler now; an unknown dependency name raises ``DependencyError``.

        Without ``idempotency`` a command that carries a key is refused (a wiring mistake).
        """
        self._uow_factory = uow_factory
        self._tracer = tracer_in(dependencies)
        self._idempotency = idempotency
        self._retry = retry or RetryPolicy()
        self._commands: dict[type[Command], BoundHandler] = {
            kind: bind(handler, dependencies) for kind, handler in command_handlers.items()
        }
        self._events: dict[type[Event], tuple[BoundHandler, ...]] = {
            kind: tuple(bind(handler, dependencies) for handler in handlers)
            for kind, handlers in event_handlers.items()
        }

    async def handle(self, message: Message) -> Any:
        """Handle ``message`` and every event that follows from it.

        For a command, returns its handler's result or raises its error (in
        both cases after the events it committed were handled). For an event,
        returns ``None``.
        """
        # The queue is local: one bus serves many concurrent requests.
        queue: deque[Event] = deque()
        result: Any = None
        if isinstance(message, Command):
            try:
                result = await self._handle_command(message, queue)
            except Exception:
                # What the command committed before failing did happen.
                # (Not on cancellation, a BaseException: then nobody waits.)
                await self._drain(queue)
                raise
        elif isinstance(message, Event):
            queue.append(message)
        else:
            raise TypeError(f"{message!r} is neither a command nor an event")
        await self._drain(queue)
        return result

    async def _handle_command(self, command: Command, queue: deque[Event]) -> Any:
        handler = self._commands.get(type(command))
        if handler is None:
            raise NoHandler(f"no handler for command {type(command).__name__}")
        logger.debug("handling command %r", command)
        name = type(command).__name__
        actor = getattr(command, "actor", None)
        with (
            acting_as(getattr(actor, "user_id", None)),
            self._tracer.span(f"command {name}", current_trace_parent()),
        ):
            return await self._invoke(handler, command, queue)

    async def _drain(self, queue: deque[Event]) -> None:
        while queue:
            event = queue.popleft()
            for handler in self._handlers_for(type(event)):
                try:
                    await self._invoke(handler, event, queue)
                except Exception:
                    # Type and id only: an event's fields may be personal data (an e-mail).
                    logger.exception(
                        "event handler %s failed on %s %s",
                        handler.name,
                        type(event).__name__,
                        event.message_id,
                    )

    def _handlers_for(self, kind: type[Event]) -> Iterable[BoundHandler]:
        # Walking the MRO lets a handler subscribe to a base class (``Event``
        # itself, for the external publisher) as well as to one event type.
        for cls in kind.__mro__:
            yield from self._events.get(cls, ())

    async def _invoke(self, handler: BoundHandler, message: Message, queue: deque[Event]) -> Any:
        """Run one handler, retrying concurrency conflicts; queue what it committed."""
        failures = 0
        while True:
            uow = self._uow_factory() if handler.wants_uow else None
            try:
                if uow is not None and isinstance(message, Command):
                    key = idempotency_key_of(message)
                    if key is not None:
                        return await self._run_keyed(handler, message, key, uow)
                return await handler(message, uow)
            except ConcurrencyConflict:
                failures += 1
                if failures >= self._retry.attempts:
                    raise
                logger.info(
                    "%s lost a concurrency race on %r; retry %d", handler.name, message, failures
                )
            finally:
                # Also after a failure: whatever was committed before it did happen.
                if uow is not None:
                    queue.extend(uow.collect_new_events())
            await self._retry.backoff(failures)

    async def _run_keyed(
        self, handler: BoundHandler, command: Command, key: str, uow: UnitOfWork
    ) -> Any:
        if self._idempotency is None:
            raise NoHandler(
                f"{type(command).__name__} carries an idempotency key; no rule is wired"
            )
        return await self._idempotency.run(handler, command, key, uow, self._uow_factory)
