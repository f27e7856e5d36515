"""PostgreSQL announces committed outbox rows on the channel ``kingdom_outbox``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00

A statement-level trigger, so a commit that inserts many rows notifies once
(and PostgreSQL folds identical notifications of one transaction into one).
NOTIFY is delivered at commit and never for a rolled-back transaction, which
is exactly when the relay should look. The payload is empty: the relay reads
the outbox anyway. SQLite has no NOTIFY: a no-op there (the embedded server
wakes its relay in-process).
"""

from __future__ import annotations

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

CHANNEL = "kingdom_outbox"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION kingdom_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END
        $$
        """)
    op.execute(
        "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox"
        " FOR EACH STATEMENT EXECUTE FUNCTION kingdom_outbox_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
    op.execute("DROP FUNCTION IF EXISTS kingdom_outbox_notify()")
