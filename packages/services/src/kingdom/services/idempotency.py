"""Idempotency keys: a repeated request answers as the first one did, without running again.

A command that carries ``idempotency_key`` is run by :class:`Idempotency`
(the message bus hands it over) inside one unit of work:

1. Look the key up in the caller's scope (in a short transaction of its own). A live record whose fingerprint
   matches is the answer: its stored result is returned and nothing runs. A
   live record with another fingerprint is refused
   (:class:`~kingdom.services.ports.idempotency.IdempotencyKeyReused`). A
   record older than the retention counts as absent.
2. Otherwise run the handler on the bus's unit of work, holding back its
   ``commit()``; then stage the record (scope, key, fingerprint, result) and
   commit once, so the record is written in the same transaction as the
   state and the outbox rows. No record without the effect, no effect
   without the record.
3. Two concurrent requests with one key both miss in step 1; the second's
   commit then clashes on the record's unique key (on PostgreSQL its insert
   waits for the first to commit) and is rolled back whole, and the bus's
   retry finds the first one's record. Only if the retries run out does the
   client see :class:`~kingdom.services.ports.idempotency.IdempotencyKeyInUse`
   (retryable: nothing was written for it).

Only successes are recorded: a refused command (insufficient funds, no
access...) wrote nothing, and a retry with the same key runs again. Old
records are pruned after a keyed write, in their own transaction, at most
once per ``prune_every`` per process (a pruning transaction that loses a race
with another process's is simply dropped).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Final, cast

from kingdom.domain.shared import Command, Invalid
from kingdom.services.injection import BoundHandler
from kingdom.services.ports import Clock, UnitOfWork
from kingdom.services.ports.idempotency import IdempotencyKeyReused, IdempotencyRecord

logger = logging.getLogger(__name__)

DEFAULT_RETENTION: Final = timedelta(hours=24)
DEFAULT_PRUNE_EVERY: Final = timedelta(minutes=5)
MAX_KEY_LENGTH: Final = 200

_NOT_INPUT: Final = frozenset({"meta", "idempotency_key", "actor", "client_address"})
"""Command fields that are not what the client asked for: who asks is the scope,
and where from (an address) may change between a request and its retry."""


def idempotency_key_of(command: Command) -> str | None:
    """The command's key, if it carries one (only commands with the field can)."""
    key = getattr(command, "idempotency_key", None)
    return key if isinstance(key, str) else None


def ensure_valid_key(key: str) -> None:
    if not 0 < len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(
            f"an idempotency key is 1 to {MAX_KEY_LENGTH} printable characters "
            "(a UUID is a good choice)"
        )


def scope_of(command: Command) -> str:
    """Whose keys a command's key is among: the caller's, or for anonymous ones, the address's.

    Anonymous commands (``registerUser``) are scoped by client address, the
    same key the registration throttle counts by; without an address they
    share one anonymous scope, where only the key's randomness separates
    clients.
    """
    actor = getattr(command, "actor", None)
    user_id = getattr(actor, "user_id", None)
    if isinstance(user_id, str):
        return f"user:{user_id}"
    address = getattr(command, "client_address", None)
    if isinstance(address, str) and address:
        return f"address:{address}"
    return "anonymous"


def fingerprint(command: Command) -> str:
    """A digest of what the command asks for: its type and its input fields, canonically.

    Left out: the metadata, the key, the actor (the scope already says who) and
    the client address; and secrets (fields hidden from ``repr``, such as a
    password), which are never stored, not even as a fast digest anyone
    could test guesses against. So a repeat that differs only in its
    password is taken for the same request.
    """
    fields = {
        field.name: _canonical(getattr(command, field.name))
        for field in dataclasses.fields(command)
        if field.name not in _NOT_INPUT and field.repr
    }
    text = json.dumps(
        [type(command).__name__, fields], sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: object) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _canonical(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, set | frozenset):
        return sorted((_canonical(item) for item in value), key=_sort_key)
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def _sort_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class Idempotency:
    """The rule, with its clock and retention (one per bus)."""

    def __init__(
        self,
        clock: Clock,
        *,
        retention: timedelta = DEFAULT_RETENTION,
        prune_every: timedelta = DEFAULT_PRUNE_EVERY,
    ) -> None:
        if retention <= timedelta(0):
            raise ValueError("the idempotency retention must be positive")
        self.clock = clock
        self.retention = retention
        self.prune_every = prune_every
        self._last_prune: datetime | None = None

    async def run(
        self,
        handler: BoundHandler,
        command: Command,
        key: str,
        uow: UnitOfWork,
        uow_factory: Callable[[], UnitOfWork],
    ) -> Any:
        """Answer ``command`` from its record, or run it and record the answer atomically."""
        ensure_valid_key(key)
        scope, digest = scope_of(command), fingerprint(command)
        now = self.clock.now()
        # Looked up in a short transaction of its own, not the command's: a
        # handler may work before its transaction (hash a password, count an
        # attempt in a throttle's own transaction), and on SQLite an open
        # write transaction would make that wait for itself.
        async with uow_factory() as lookup:
            stored = await lookup.idempotency.find(scope, key)
        if stored is not None and stored.created_at > now - self.retention:
            if stored.fingerprint != digest:
                raise IdempotencyKeyReused()
            logger.debug("%s: key %r answered from its record", type(command).__name__, key)
            return json.loads(stored.result)
        async with uow:
            held = HeldCommit(uow)
            result = await handler(command, cast(UnitOfWork, held))
            if not held.commit_requested:
                return result  # nothing to write, so nothing to remember
            record = IdempotencyRecord(scope, key, digest, _encoded(result), now)
            uow.idempotency.add(record, replaces=stored)
            await uow.commit()
        await self._prune_now_and_then(uow_factory)
        return result

    async def _prune_now_and_then(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        now = self.clock.now()
        if self._last_prune is not None and now - self._last_prune < self.prune_every:
            return
        self._last_prune = now
        try:
            async with uow_factory() as uow:
                pruned = await uow.idempotency.prune(now - self.retention)
                await uow.commit()
        except Exception:  # housekeeping: the next keyed write tries again
            logger.info("pruning idempotency records failed; will retry", exc_info=True)
            self._last_prune = None
            return
        if pruned:
            logger.info("pruned %d idempotency records older than %s", pruned, self.retention)


def _encoded(result: object) -> str:
    try:
        return json.dumps(result, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"a keyed command's result must be JSON-serialisable, not {type(result).__name__}"
        ) from error


class HeldCommit:
    """A unit of work seen through a handler that must not commit on its own.

    ``async with`` and ``commit()`` do nothing but note that the handler
    wanted to commit; everything else (repositories, rollback) is the unit of
    work's. The handler's own block ending on an error still rolls back, via
    the outer ``async with`` the error passes through.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.commit_requested = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    async def __aenter__(self) -> HeldCommit:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        self.commit_requested = True
