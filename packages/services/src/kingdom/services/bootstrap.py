"""Assemble the message bus: the one place where handlers meet their dependencies.

The composition root (in the entrypoints ring) builds the adapters, puts them
in a dict keyed by the parameter names handlers use, and calls
:func:`bootstrap`. Tests call it with fakes instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

from kingdom.domain.shared import Command, Event
from kingdom.services import identity, ledger
from kingdom.services.idempotency import DEFAULT_RETENTION, Idempotency
from kingdom.services.injection import Handler
from kingdom.services.messagebus import MessageBus, UnitOfWorkFactory
from kingdom.services.ports import Clock
from kingdom.services.retry import RetryPolicy

COMMAND_HANDLERS: Mapping[type[Command], Handler] = {
    **identity.COMMAND_HANDLERS,
    **ledger.COMMAND_HANDLERS,
}
"""Every command Kingdom understands, and the one function that handles it."""

EVENT_HANDLERS: Mapping[type[Event], tuple[Handler, ...]] = {}
"""Reactions to committed events inside the request's process: none. Committed events
leave through the outbox only (:mod:`kingdom.services.relay`), to the workers
(:mod:`kingdom.services.consumers`), so none leaves twice or before its commit."""

DEPENDENCY_NAMES: frozenset[str] = frozenset(
    {
        "clock",
        "ids",
        "hasher",
        "tokens",
        "secrets",
        "throttle",
        "session_policy",
    }
)
"""What the default handlers ask for besides ``uow`` (see :mod:`kingdom.services.ports`):
``clock: Clock``, ``ids: IdGenerator``, ``hasher: PasswordHasher``, ``tokens: TokenIssuer``,
``secrets: SecretSource``,
``throttle: LoginThrottle``, ``session_policy: SessionPolicy``
(:mod:`kingdom.services.identity.sessions`)."""


def bootstrap(
    *,
    uow_factory: UnitOfWorkFactory,
    dependencies: Mapping[str, object],
    command_handlers: Mapping[type[Command], Handler] = COMMAND_HANDLERS,
    event_handlers: Mapping[type[Event], Iterable[Handler]] = EVENT_HANDLERS,
    retry: RetryPolicy | None = None,
    idempotency_retention: timedelta = DEFAULT_RETENTION,
) -> MessageBus:
    """Build a bus wiring ``dependencies`` into every handler, by parameter name.

    Fails fast (``DependencyError``) if a handler needs a name that is not in
    ``dependencies``. Idempotency keys are kept ``idempotency_retention``
    (measured on ``dependencies["clock"]``).
    """
    clock = dependencies.get("clock")
    idempotency = (
        Idempotency(clock, retention=idempotency_retention) if isinstance(clock, Clock) else None
    )
    return MessageBus(
        uow_factory=uow_factory,
        command_handlers=command_handlers,
        event_handlers=event_handlers,
        dependencies=dependencies,
        retry=retry,
        idempotency=idempotency,
    )
