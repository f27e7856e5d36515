"""The acting user on each outbox row, for the audit trail's "who".

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 17:50:00

``outbox.actor_id``: the user whose command committed the event (nullable:
the system, a stranger registering). Events name no actor; the relay sends
this beside them and the workers record it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("actor_id", sa.String(64), nullable=True))


def downgrade() -> None:
    # In place, as 0008: a batch rebuild would drop SQLite's AUTOINCREMENT.
    op.drop_column("outbox", "actor_id")
