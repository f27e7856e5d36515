"""Login throttle counters: one row per account or client address that failed lately.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 12:30:00

No foreign key to ``users``: an ``account:`` key is the address as typed,
registered or not (throttling must not tell the two apart).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

TIMESTAMP = sa.DateTime(timezone=True)  # UtcDateTime


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", TIMESTAMP, nullable=False),
        sa.Column("blocked_until", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_index(
        op.f("ix_login_throttle_last_failure_at"), "login_throttle", ["last_failure_at"]
    )


def downgrade() -> None:
    op.drop_table("login_throttle")  # and its index
