"""Login throttling: growing delays after repeated failed logins, per account and per address.

A *key* names what is being throttled: ``account:<e-mail as typed, normalised>``
or ``address:<client IP>`` for logins (see :func:`account_key`,
:func:`address_key`), ``register:<client IP>`` for registrations, where every
attempt counts, not only failures (see :func:`registration_key`). Each key
has a counter of recent failures (or attempts). The first few are free; each
further one blocks the key for a delay that doubles up to a cap. (One kind
only counts and never blocks: ``register-email:<e-mail>``, the registrations
of an e-mail address, which pace the notices registration mails to its
owner; see :func:`registration_email_key`.) Counters are
*soft*: a key left alone for a quiet window after its block ended starts from
zero again, so nobody can lock a user out for longer than an attack lasts
plus one delay, while an attacker who keeps trying as soon as each block ends
stays at the cap instead of earning new free failures.

The decisions (how many failures are free, how long a block lasts, when a
counter is forgotten) live here, in :class:`ThrottlePolicy` and the concrete
methods of :class:`LoginThrottle`; an adapter only stores counters, through
the three abstract methods. Storage must be shared by every server process
(a database table, not process memory), or each worker would allow its own
quota.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

ACCOUNT: Final = "account"
ADDRESS: Final = "address"
REGISTER: Final = "register"
REGISTER_EMAIL: Final = "register-email"
MAX_KEY_LENGTH: Final = 300
"""Storage bound for a key; longer inputs are replaced by their hash (see :func:`account_key`)."""

_NEVER_BLOCKED: Final = sys.maxsize
"""The free failures of a key that only counts (beyond reach: it is never delayed)."""

_MAX_DOUBLINGS: Final = 40
"""Beyond this the delay is capped anyway; bounding the exponent keeps the multiplier small."""


def account_key(email: str) -> str:
    """The key of the account an e-mail address *would* name, whether or not it exists.

    Normalised the way :func:`~kingdom.domain.identity.normalise_email` does
    (stripped, lower-cased), so ``Ann@x.org`` and ``ann@x.org`` share one
    counter; anything too long to be an address is hashed to bound the key.
    Derived from the input only, never from a lookup: a key that depended on
    the account existing would reveal that it does.
    """
    return f"{ACCOUNT}:{_typed(email)}"


def registration_email_key(email: str) -> str:
    """The key of the registrations of an e-mail address, taken or not.

    Normalised like :func:`account_key`. Every registration of the address
    counts on it, and it never blocks anything: registration reads when it
    was last counted (:meth:`LoginThrottle.last_counted`) so that the owner
    of a taken address is not sent a notice more than once per interval,
    whoever keeps registering it.
    """
    return f"{REGISTER_EMAIL}:{_typed(email)}"


def _typed(email: str) -> str:
    typed = email.strip().lower()
    if len(typed) > 254:
        typed = "sha256:" + hashlib.sha256(typed.encode()).hexdigest()
    return typed


def address_key(address: str) -> str:
    """The key of a client address.

    An IPv6 client usually controls a whole ``/64`` (it picks the last 64
    bits at will), so IPv6 addresses are throttled by their ``/64``; an
    IPv4-mapped IPv6 address is its IPv4 address. Anything else (a Unix
    socket path, a test client's name) is used as given, bounded.
    """
    return f"{ADDRESS}:{_client(address)}"


def registration_key(address: str) -> str:
    """The key of a client address's registrations, its address as in :func:`address_key`.

    Separate from the address's login key: registering is not a failed
    login, and a busy office registering its staff must not block its logins.
    """
    return f"{REGISTER}:{_client(address)}"


def _client(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address[:200]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def login_keys(email: str, client_address: str | None) -> tuple[str, ...]:
    """The keys one login attempt counts against: its account, and its address if known."""
    if client_address is None:
        return (account_key(email),)
    return (account_key(email), address_key(client_address))


def registration_keys(client_address: str | None) -> tuple[str, ...]:
    """The keys one registration counts against: its address's, if the address is known."""
    if client_address is None:
        return ()
    return (registration_key(client_address),)


@dataclass(frozen=True, kw_only=True)
class ThrottlePolicy:
    """How many failures are free, how long blocks last, and when counters are forgotten.

    After ``n`` failures within the quiet window, a key with ``free`` free
    failures is blocked for ``first_delay * 2 ** (n - free - 1)`` (capped at
    ``max_delay``) from the last failure: with the defaults an account's 6th
    failure costs 1 s, the 7th 2 s, the 8th 4 s, ... and the 16th on 15 min.
    """

    account_free_failures: int = 5
    address_free_failures: int = 20
    """Higher than per account: many users may share one address (an office, a NAT)."""
    register_free_attempts: int = 20
    """Registrations per client address before delays start (each costs a password hash)."""
    first_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=15)
    quiet_window: timedelta = timedelta(minutes=15)
    """A key with no failure for this long after its last failure and its block starts anew."""

    def __post_init__(self) -> None:
        if min(self.account_free_failures, self.address_free_failures) < 0:
            raise ValueError("free failures cannot be negative")
        if self.register_free_attempts < 0:
            raise ValueError("free registrations cannot be negative")
        if self.first_delay <= timedelta(0) or self.max_delay < self.first_delay:
            raise ValueError("delays must be positive, and the cap at least the first delay")
        if self.quiet_window <= timedelta(0):
            raise ValueError("the quiet window must be positive")

    def free_failures(self, key: str) -> int:
        kind, separator, _ = key.partition(":")
        if separator and kind == ACCOUNT:
            return self.account_free_failures
        if separator and kind == ADDRESS:
            return self.address_free_failures
        if separator and kind == REGISTER:
            return self.register_free_attempts
        if separator and kind == REGISTER_EMAIL:
            return _NEVER_BLOCKED  # counted to pace mail, never to refuse anything
        raise ValueError(
            f"not a throttle key: {key!r} "
            "(expected account:..., address:..., register:... or register-email:...)"
        )

    def delay(self, key: str, failures: int) -> timedelta:
        """How long ``key`` is blocked after its ``failures``-th recent failure (maybe zero)."""
        beyond = failures - self.free_failures(key)
        if beyond <= 0:
            return timedelta(0)
        return min(self.first_delay * (1 << min(beyond - 1, _MAX_DOUBLINGS)), self.max_delay)

    def forget_before(self, now: datetime) -> datetime:
        """A counter whose last failure and block both end at or before this is forgotten."""
        return now - self.quiet_window

    def is_forgotten(self, counter: ThrottleCounter, now: datetime) -> bool:
        # Quiet counts from the end of the block too: otherwise a cap as long
        # as the window would hand a patient attacker fresh free failures
        # after every maximal block.
        quiet_since = max(counter.last_failure_at, counter.blocked_until or counter.last_failure_at)
        return quiet_since <= self.forget_before(now)

    def after_failure(
        self, key: str, previous: ThrottleCounter | None, now: datetime
    ) -> ThrottleCounter:
        """The counter of ``key`` once one more failure at ``now`` is counted.

        A forgotten counter restarts at one. The block never shrinks: with
        concurrent failures, an earlier ``now`` must not shorten the block a
        later one already set.
        """
        if previous is None or self.is_forgotten(previous, now):
            failures, last, blocked = 1, now, None
        else:
            failures = previous.failures + 1
            last = max(previous.last_failure_at, now)
            blocked = previous.blocked_until
        delay = self.delay(key, failures)
        if delay > timedelta(0):
            until = now + delay
            blocked = until if blocked is None else max(blocked, until)
        return ThrottleCounter(
            key=key, failures=failures, last_failure_at=last, blocked_until=blocked
        )

    def wait(self, counter: ThrottleCounter, now: datetime) -> timedelta:
        """How long ``counter``'s key must still wait (zero if it may try now).

        A block stands on its own until it ends; the quiet window only
        starts after it.
        """
        if counter.blocked_until is None or counter.blocked_until <= now:
            return timedelta(0)
        return counter.blocked_until - now


@dataclass(frozen=True, kw_only=True)
class ThrottleCounter:
    """One key's recent failures, as stored."""

    key: str
    failures: int
    last_failure_at: datetime
    blocked_until: datetime | None


class LoginThrottle(ABC):
    """Counts failed logins (and registrations) per key and says when a key must wait.

    The public methods make every decision through :attr:`policy`; subclasses
    only store counters (:meth:`load`, :meth:`count_failures`, :meth:`forget`).
    Counting happens outside the login's unit of work: a failed login rolls
    its transaction back, but the failure must stay counted.
    """

    def __init__(self, policy: ThrottlePolicy) -> None:
        self.policy = policy

    async def check(self, keys: Iterable[str], now: datetime) -> int | None:
        """Whole seconds to wait if any of ``keys`` is blocked at ``now``, else ``None``.

        Rounded up, so a client that waits that long finds the block over.
        """
        counters = await self.load(_unique(keys))
        wait = max((self.policy.wait(counter, now) for counter in counters), default=None)
        if wait is None or wait <= timedelta(0):
            return None
        return max(1, math.ceil(wait.total_seconds()))

    async def record_failure(self, keys: Iterable[str], now: datetime) -> None:
        """Count one failed attempt at ``now`` against each of ``keys``."""
        unique = _unique(keys)
        for key in unique:
            self.policy.free_failures(key)  # refuses a malformed key before storing anything
        await self.count_failures(unique, now)

    async def last_counted(self, key: str, now: datetime) -> datetime | None:
        """When ``key`` was last counted, or ``None`` if never or its counter is forgotten by ``now``.

        Forgotten as the policy says (the quiet window): a counter not yet
        pruned answers the same as one that was.
        """
        self.policy.free_failures(key)  # refuses a malformed key
        for counter in await self.load([key]):
            if not self.policy.is_forgotten(counter, now):
                return counter.last_failure_at
        return None

    async def record_success(self, account: str) -> None:
        """A successful login clears its account's counter.

        Only the account's: an address that failed for many accounts (a
        password-spraying bot) must not reset its count by logging into an
        account of its own.
        """
        if not account.startswith(f"{ACCOUNT}:"):
            raise ValueError(f"only an account key is cleared on success, not {account!r}")
        await self.forget(account)

    @abstractmethod
    async def load(self, keys: Sequence[str]) -> Sequence[ThrottleCounter]:
        """The stored counters of ``keys`` (keys without one are left out)."""

    @abstractmethod
    async def count_failures(self, keys: Sequence[str], now: datetime) -> None:
        """Replace each key's counter by ``policy.after_failure(key, counter, now)``, atomically.

        Atomic per key across every process sharing the storage: N concurrent
        calls for one key leave it N failures further. Done in its own short
        transaction, never the caller's.
        """

    @abstractmethod
    async def forget(self, key: str) -> None:
        """Drop ``key``'s counter (and with it any block)."""


def _unique(keys: Iterable[str]) -> list[str]:
    # Sorted: storage that locks rows then always locks them in one order
    # (no deadlock between two attempts sharing an address).
    return sorted(set(keys))
