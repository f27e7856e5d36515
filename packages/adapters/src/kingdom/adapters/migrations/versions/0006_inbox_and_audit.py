"""The workers' tables: the inbox (idempotent consumer) and the audit trail.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 12:00:00

``inbox``: one row per (message, handler) processed, written in the
handler's transaction; its primary key turns a concurrent second delivery
into a conflict. ``audit_entries``: one row per audited event, keyed by its
message id, indexed for newest-first keyset pages overall, per subject and
per actor. No foreign keys: entries outlive what they describe.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

TIMESTAMP = sa.DateTime(timezone=True)  # UtcDateTime
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")  # IdList
ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("message_id", ID, nullable=False),
        sa.Column("handler", sa.String(200), nullable=False),
        sa.Column("processed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("message_id", "handler", name=op.f("pk_inbox")),
    )
    op.create_index(op.f("ix_inbox_processed_at"), "inbox", ["processed_at"])

    op.create_table(
        "audit_entries",
        sa.Column("message_id", ID, nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.Column("actor_id", ID, nullable=True),
        sa.Column("subject_type", sa.String(32), nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("related_ids", JSON, nullable=False),
        sa.Column("summary", sa.String(200), nullable=False),
        sa.Column("trace_parent", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_audit_entries")),
    )
    op.create_index(
        op.f("ix_audit_entries_occurred_at_message_id"),
        "audit_entries",
        ["occurred_at", "message_id"],
    )
    op.create_index(
        op.f("ix_audit_entries_subject_id_occurred_at_message_id"),
        "audit_entries",
        ["subject_id", "occurred_at", "message_id"],
    )
    op.create_index(
        op.f("ix_audit_entries_actor_id_occurred_at_message_id"),
        "audit_entries",
        ["actor_id", "occurred_at", "message_id"],
    )


def downgrade() -> None:
    op.drop_table("audit_entries")  # and its indexes
    op.drop_table("inbox")
