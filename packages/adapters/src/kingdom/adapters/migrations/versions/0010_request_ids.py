"""The request behind each event: its ``X-Request-ID``, on the outbox row and the audit entry.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-14 10:00:00

``outbox.request_id``: the id of the HTTP request whose commit wrote the row,
sent on beside the event like ``actor_id``; ``audit_entries.request_id``:
the same id where the workers recorded the event, so an entry leads to its
request's access log line. Both nullable: rows written before this revision,
or outside any request (a tool, the system), have none. Ids are at most 64
characters (the server passes on nothing longer).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("request_id", sa.String(64), nullable=True))
    op.add_column("audit_entries", sa.Column("request_id", sa.String(64), nullable=True))


def downgrade() -> None:
    # In place, as 0008: a batch rebuild would drop the outbox's SQLite AUTOINCREMENT.
    op.drop_column("audit_entries", "request_id")
    op.drop_column("outbox", "request_id")
