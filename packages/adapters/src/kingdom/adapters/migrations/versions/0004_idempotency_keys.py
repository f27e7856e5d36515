"""Idempotency keys: what each keyed mutation answered, per caller, for a retention period.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 14:00:00

No foreign key to ``users``: the scope is ``user:<id>`` or, for anonymous
mutations, ``address:<ip>`` (see :mod:`kingdom.services.idempotency`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

TIMESTAMP = sa.DateTime(timezone=True)  # UtcDateTime


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")  # and its index
