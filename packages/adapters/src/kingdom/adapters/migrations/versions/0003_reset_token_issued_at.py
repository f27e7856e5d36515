"""When each password-reset code was issued: a user gets at most one mail per interval.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00

Codes issued before this revision did not record the time. They live half an
hour by default, so each is taken to have been issued its default lifetime
before it expires; a server that ran with another lifetime gets a wrong time
only for codes outstanding at the upgrade, which at worst paces (or does not
pace) their users' next request once.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

TIMESTAMP = sa.DateTime(timezone=True)  # UtcDateTime
DEFAULT_LIFETIME = timedelta(minutes=30)
"""``KINGDOM_RESET_TOKEN_TTL_SECONDS``'s default when this revision was written."""


def upgrade() -> None:
    op.add_column("reset_tokens", sa.Column("issued_at", TIMESTAMP, nullable=True))
    # Computed here rather than in SQL: date arithmetic is spelt differently by
    # every database, and outstanding codes are few.
    tokens = sa.table(
        "reset_tokens",
        sa.column("id", sa.String()),
        sa.column("expires_at", TIMESTAMP),
        sa.column("issued_at", TIMESTAMP),
    )
    connection = op.get_bind()
    for row in connection.execute(sa.select(tokens.c.id, tokens.c.expires_at)).all():
        connection.execute(
            tokens.update()
            .where(tokens.c.id == row.id)
            .values(issued_at=row.expires_at - DEFAULT_LIFETIME)
        )
    # SQLite cannot alter a column in place: batch mode rebuilds the table.
    with op.batch_alter_table("reset_tokens") as batch:
        batch.alter_column("issued_at", existing_type=TIMESTAMP, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("reset_tokens") as batch:
        batch.drop_column("issued_at")
