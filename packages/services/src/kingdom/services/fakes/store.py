"""The committed state of the in-memory fakes: what a database would hold."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from kingdom.domain.identity import RefreshSession, ResetToken, Role, User
from kingdom.domain.ledger import Account, Transfer
from kingdom.domain.shared import Event
from kingdom.services.ports.audit import AuditEntry
from kingdom.services.ports.idempotency import IdempotencyRecord
from kingdom.services.ports.inbox import InboxEntry
from kingdom.services.ports.publishing import OutgoingMail

Record = User | Role | Account | Transfer | ResetToken | RefreshSession


@dataclass
class InMemoryStore:
    """Tables of committed records, shared by every fake unit of work made from it.

    Records are stored as private copies: nothing a handler does to an object
    it loaded reaches the store until a commit copies it back.
    """

    users: dict[str, User] = field(default_factory=dict)
    roles: dict[str, Role] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    reset_tokens: dict[str, ResetToken] = field(default_factory=dict)
    refresh_sessions: dict[str, RefreshSession] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    """Idempotency records by (scope, key)."""
    inbox: dict[tuple[str, str], InboxEntry] = field(default_factory=dict)
    """Inbox entries by (message_id, handler)."""
    audit: dict[str, AuditEntry] = field(default_factory=dict)
    """Audit entries by message id, in the order recorded."""
    outgoing_mail: dict[str, OutgoingMail] = field(default_factory=dict)
    """Mails waiting for the worker that sends them, by id."""
    outbox: list[Event] = field(default_factory=list)
    """Every event committed, in order (what a transactional outbox would hold)."""
    commits: int = 0
    conflicts_to_raise: int = 0
    """Make the next N commits fail with ConcurrencyConflict (to exercise retries)."""

    def put(self, *records: Record) -> None:
        """Seed committed state directly (test arrangement), keeping versions as given."""
        for record in records:
            stored = copy.deepcopy(record)
            if isinstance(stored, User):
                stored.pull_events()
                self.users[stored.id] = stored
            elif isinstance(stored, Role):
                stored.pull_events()
                self.roles[stored.id] = stored
            elif isinstance(stored, Account):
                stored.pull_events()
                self.accounts[stored.id] = stored
            elif isinstance(stored, Transfer):
                self.transfers[stored.id] = stored
            elif isinstance(stored, RefreshSession):
                self.refresh_sessions[stored.id] = stored
            else:
                self.reset_tokens[stored.id] = stored
