"""Outbox rows remember their trace: the W3C ``traceparent`` current at commit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-12 12:00:00

``outbox.trace_parent``: the request's (or command's) span when the event was
committed, so the relay sends it on and the worker continues the same trace.
Nullable: rows committed before this revision, or outside any request, have
none. A version-00 ``traceparent`` is exactly 55 characters, and nothing
else is written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

TRACE_PARENT = sa.String(55)


def upgrade() -> None:
    op.add_column("outbox", sa.Column("trace_parent", TRACE_PARENT, nullable=True))


def downgrade() -> None:
    # Not batch mode: rebuilding the table would drop SQLite's AUTOINCREMENT
    # (positions must never be reused). SQLite drops a column in place since 3.35.
    op.drop_column("outbox", "trace_parent")
