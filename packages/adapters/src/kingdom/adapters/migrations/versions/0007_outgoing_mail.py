"""Outgoing mail: rendered mails waiting for the worker that sends them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 12:00:00

``outgoing_mail``: one row per mail a request queued (a password-reset
code's), keyed by the id of the event committed with it, deleted once the
worker sent it, it was refused for good or it expired. The body may hold a
one-time secret in plain text, so rows live minutes at most; indexed on
``expires_at`` for pruning. No foreign keys: a mail outlives nothing it names.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

TIMESTAMP = sa.DateTime(timezone=True)  # UtcDateTime
ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "outgoing_mail",
        sa.Column("id", ID, nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_mail")),
    )
    op.create_index(op.f("ix_outgoing_mail_expires_at"), "outgoing_mail", ["expires_at"])


def downgrade() -> None:
    op.drop_table("outgoing_mail")  # and its index
