"""Ports: what the service layer needs from the outside world, as abstract classes.

Handlers depend on these only; adapters implement them (SQL, argon2, JWT,
SMTP...), and :mod:`kingdom.services.fakes` implements them in memory for tests.
"""

from kingdom.services.ports.audit import AuditEntry, AuditTrail
from kingdom.services.ports.inbox import Inbox, InboxEntry
from kingdom.services.ports.outbox import (
    Backlog,
    ClaimedBatch,
    EventTransport,
    OutboxFeed,
    OutboxMessage,
)
from kingdom.services.ports.publishing import (
    Mailer,
    MailFailure,
    OutgoingMail,
    OutgoingMailbox,
    PermanentMailFailure,
    TemporaryMailFailure,
)
from kingdom.services.ports.queries import (
    MAX_PAGE_SIZE,
    AccountQueries,
    AccountView,
    Direction,
    Edge,
    Page,
    PageRequest,
    RoleQueries,
    RoleView,
    TransferQueries,
    TransferView,
    UserQueries,
    UserView,
)
from kingdom.services.ports.repositories import (
    AccountRepository,
    RefreshSessionRepository,
    Repository,
    ResetTokenRepository,
    RoleRepository,
    TransferLog,
    UserRepository,
)
from kingdom.services.ports.security import IssuedToken, PasswordHasher, SecretSource, TokenIssuer
from kingdom.services.ports.system import Clock, IdGenerator
from kingdom.services.ports.throttling import (
    LoginThrottle,
    ThrottleCounter,
    ThrottlePolicy,
    account_key,
    address_key,
    login_keys,
    registration_email_key,
    registration_key,
    registration_keys,
)
from kingdom.services.ports.tracking import Change, Keeper, Tracker
from kingdom.services.ports.unit_of_work import ConcurrencyConflict, UnitOfWork

__all__ = [
    "MAX_PAGE_SIZE",
    "AccountQueries",
    "AccountRepository",
    "AccountView",
    "AuditEntry",
    "AuditTrail",
    "Clock",
    "ConcurrencyConflict",
    "Direction",
    "Edge",
    "Backlog",
    "ClaimedBatch",
    "EventTransport",
    "OutboxFeed",
    "OutboxMessage",
    "IdGenerator",
    "Inbox",
    "InboxEntry",
    "IssuedToken",
    "LoginThrottle",
    "MailFailure",
    "Mailer",
    "OutgoingMail",
    "OutgoingMailbox",
    "Page",
    "PageRequest",
    "PasswordHasher",
    "PermanentMailFailure",
    "RefreshSessionRepository",
    "Repository",
    "ResetTokenRepository",
    "RoleQueries",
    "RoleRepository",
    "RoleView",
    "SecretSource",
    "TemporaryMailFailure",
    "ThrottleCounter",
    "ThrottlePolicy",
    "TokenIssuer",
    "TransferLog",
    "TransferQueries",
    "TransferView",
    "UnitOfWork",
    "Change",
    "Keeper",
    "Tracker",
    "UserQueries",
    "UserRepository",
    "UserView",
    "account_key",
    "address_key",
    "login_keys",
    "registration_email_key",
    "registration_key",
    "registration_keys",
]
