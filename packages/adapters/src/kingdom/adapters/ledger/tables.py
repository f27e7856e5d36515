"""The ledger tables.

The database backs the domain's invariants that matter most for money: a
balance can never go negative and a transfer always moves a positive amount
(CHECK constraints), whatever code writes the rows. Amounts are BIGINT minor
units, matching the domain's ``0 .. 2**63 - 1`` range.

Column names are a contract with the read side (``queries.py``) and the
migrations: change them only together.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from kingdom.adapters.identity.tables import ID
from kingdom.adapters.sql.metadata import metadata
from kingdom.adapters.sql.types import StatusEnum, UtcDateTime
from kingdom.domain.ledger import AccountStatus

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("owner_id", String(ID), ForeignKey("users.id"), nullable=False, index=True),
    Column("currency", CHAR(3), nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("status", StatusEnum(AccountStatus), nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint("balance >= 0", name="balance_not_negative"),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("source_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("target_id", String(ID), ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    # An account's history, newest first, paginated by (occurred_at, id).
    Index(None, "source_id", "occurred_at", "id"),
    Index(None, "target_id", "occurred_at", "id"),
    # The unfiltered listing (an auditor's view) seeks in this order.
    Index(None, "occurred_at", "id"),
)
