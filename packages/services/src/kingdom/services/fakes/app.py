"""A whole service layer on fakes: the real bus and handlers, in-memory everything else.

Tests of any ring can drive Kingdom through ``app.bus.handle(...)`` and then
look at ``app.store``... without a database or a network. What the workers
do (the audit trail, sending mail) happens once the test calls
``await app.deliver_events()``: the real consumer and worker handlers run
on the committed events, on the same fakes, and ``app.mailer`` shows what
they sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from kingdom.domain.identity import Authenticate, RefreshAccess, RegisterUser
from kingdom.domain.shared import MessageMeta
from kingdom.services.bootstrap import bootstrap
from kingdom.services.consumers import Consumer, build_consumer
from kingdom.services.fakes.publishing import RecordingMailer
from kingdom.services.fakes.security import FakePasswordHasher, FakeSecretSource, FakeTokenIssuer
from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.fakes.system import FakeClock, SequentialIds
from kingdom.services.fakes.throttling import FakeLoginThrottle
from kingdom.services.fakes.unit_of_work import FakeUnitOfWork
from kingdom.services.identity.sessions import IssuedSession, SessionPolicy
from kingdom.services.messagebus import MessageBus
from kingdom.services.meta import new_meta
from kingdom.services.retry import RetryPolicy


async def _no_sleep(seconds: float) -> None:
    """Retries in tests should not wait."""


@dataclass
class FakeApp:
    store: InMemoryStore = field(default_factory=InMemoryStore)
    clock: FakeClock = field(default_factory=FakeClock)
    ids: SequentialIds = field(default_factory=SequentialIds)
    hasher: FakePasswordHasher = field(default_factory=FakePasswordHasher)
    secrets: FakeSecretSource = field(default_factory=FakeSecretSource)
    mailer: RecordingMailer = field(default_factory=RecordingMailer)
    throttle: FakeLoginThrottle = field(default_factory=FakeLoginThrottle)
    session_policy: SessionPolicy = field(default_factory=SessionPolicy)
    tokens: FakeTokenIssuer = field(init=False)
    bus: MessageBus = field(init=False)
    consumer: Consumer = field(init=False)
    """The workers' side: every worker handler, on the same store, clock and mailer."""
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(sleep=_no_sleep))
    settings: Mapping[str, object] = field(default_factory=dict)
    """Extra dependencies, e.g. ``{"reset_token_ttl": timedelta(minutes=5)}``."""
    delivered: int = 0
    """How many of ``store.outbox``'s events :meth:`deliver_events` has handed over."""

    def __post_init__(self) -> None:
        self.tokens = FakeTokenIssuer(self.clock)
        self.bus = bootstrap(
            uow_factory=self.unit_of_work,
            dependencies={
                "clock": self.clock,
                "ids": self.ids,
                "hasher": self.hasher,
                "tokens": self.tokens,
                "secrets": self.secrets,
                "throttle": self.throttle,
                "session_policy": self.session_policy,
                **self.settings,
            },
            retry=self.retry,
        )
        self.consumer = build_consumer(
            uow_factory=self.unit_of_work,
            dependencies={"clock": self.clock, "mailer": self.mailer},
            retry=self.retry,
        )

    async def deliver_events(self) -> int:
        """Hand every committed event not yet delivered to the workers' consumer, in order.

        As the relay would, including events the worker handlers commit. A
        handler failure propagates (:class:`~kingdom.services.consumers.HandlersFailed`)
        and leaves that event undelivered, so the next call delivers it again.
        Returns how many events were delivered.
        """
        count = 0
        while self.delivered < len(self.store.outbox):
            await self.consumer.consume(self.store.outbox[self.delivered])
            self.delivered += 1
            count += 1
        return count

    def unit_of_work(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def meta(self) -> MessageMeta:
        """Fresh metadata for a message a test is about to send."""
        return new_meta(self.clock, self.ids)

    async def register(
        self, email: str, password: str = "correct horse", display_name: str = "Someone"
    ) -> str:
        """Register a user through the bus; returns the new id."""
        user_id: str = await self.bus.handle(
            RegisterUser(
                meta=self.meta(), email=email, display_name=display_name, password=password
            )
        )
        return user_id

    async def login(self, email: str, password: str = "correct horse") -> IssuedSession:
        session: IssuedSession = await self.bus.handle(
            Authenticate(meta=self.meta(), email=email, password=password)
        )
        return session

    async def refresh(self, refresh_token: str) -> IssuedSession:
        session: IssuedSession = await self.bus.handle(
            RefreshAccess(meta=self.meta(), refresh_token=refresh_token)
        )
        return session
