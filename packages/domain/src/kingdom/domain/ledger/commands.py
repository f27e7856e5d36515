"""Requests to change the ledger, each carrying the acting :class:`Actor`.

``expected_version`` lets a client say "only if the account is still as I saw
it"; the service compares it with the stored version (optimistic concurrency).
"""

from __future__ import annotations

from dataclasses import dataclass

from kingdom.domain.access import Actor
from kingdom.domain.shared import Command


@dataclass(frozen=True, kw_only=True)
class OpenAccount(Command):
    actor: Actor
    owner_id: str
    currency: str
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


@dataclass(frozen=True, kw_only=True)
class Deposit(Command):
    actor: Actor
    account_id: str
    amount: int
    expected_version: int | None = None
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


@dataclass(frozen=True, kw_only=True)
class Withdraw(Command):
    actor: Actor
    account_id: str
    amount: int
    expected_version: int | None = None
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


@dataclass(frozen=True, kw_only=True)
class TransferFunds(Command):
    actor: Actor
    source_id: str
    target_id: str
    amount: int
    expected_version: int | None = None
    """The version of the *source* account, the one whose funds are checked."""
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""


@dataclass(frozen=True, kw_only=True)
class CloseAccount(Command):
    actor: Actor
    account_id: str
    expected_version: int | None = None
    idempotency_key: str | None = None
    """The client's key for this request: a repeat with the same key returns the first answer."""
