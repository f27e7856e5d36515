"""In-memory implementations of every port, for tests in any ring.

Fakes rather than mocks: they behave like the real adapters (transactions
that roll back, versions that conflict, hashes that verify), so tests assert
on outcomes instead of on calls.
"""

from kingdom.services.fakes.actors import actor, superuser
from kingdom.services.fakes.app import FakeApp
from kingdom.services.fakes.audit import FakeAuditTrail
from kingdom.services.fakes.inbox import FakeInbox
from kingdom.services.fakes.mail import FakeOutgoingMailbox
from kingdom.services.fakes.publishing import RecordingMailer, SentMail
from kingdom.services.fakes.repositories import (
    FakeAccountRepository,
    FakeRefreshSessionRepository,
    FakeResetTokenRepository,
    FakeRoleRepository,
    FakeTransferLog,
    FakeUserRepository,
)
from kingdom.services.fakes.security import (
    FakeClaims,
    FakePasswordHasher,
    FakeSecretSource,
    FakeTokenIssuer,
)
from kingdom.services.fakes.store import InMemoryStore
from kingdom.services.fakes.system import EPOCH, FakeClock, SequentialIds
from kingdom.services.fakes.throttling import FakeLoginThrottle
from kingdom.services.fakes.unit_of_work import FakeUnitOfWork

__all__ = [
    "EPOCH",
    "FakeAccountRepository",
    "FakeApp",
    "FakeAuditTrail",
    "FakeClaims",
    "FakeClock",
    "FakeInbox",
    "FakeLoginThrottle",
    "FakeOutgoingMailbox",
    "FakePasswordHasher",
    "FakeRefreshSessionRepository",
    "FakeResetTokenRepository",
    "FakeRoleRepository",
    "FakeSecretSource",
    "FakeTokenIssuer",
    "FakeTransferLog",
    "FakeUnitOfWork",
    "FakeUserRepository",
    "InMemoryStore",
    "RecordingMailer",
    "SequentialIds",
    "SentMail",
    "actor",
    "superuser",
]
