"""PostgreSQL announces changed token states on the channel ``kingdom_token_state``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-15 10:00:00

A row-level trigger on ``users``: when a user's ``token_version`` or
``status`` changes, or the user is deleted, ``pg_notify`` the channel with
the user's id; a TRUNCATE notifies once with an empty payload (every user).
NOTIFY is delivered at commit and never for a rolled-back transaction, and
identical notifications of one transaction are folded into one. Each server
process listens and drops what it cached of that user's token state
(:mod:`kingdom.adapters.identity.token_state_cache`). An UPDATE that lists
the columns but leaves both as they were notifies nothing.

SQLite has no NOTIFY and the server does not cache token states there: a
no-op.
"""

from __future__ import annotations

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None

CHANNEL = "kingdom_token_state"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
        CREATE FUNCTION kingdom_token_state_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'TRUNCATE' THEN
                PERFORM pg_notify('{CHANNEL}', '');
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('{CHANNEL}', OLD.id);
            ELSIF OLD.token_version IS DISTINCT FROM NEW.token_version
                OR OLD.status IS DISTINCT FROM NEW.status
                OR OLD.id IS DISTINCT FROM NEW.id THEN
                PERFORM pg_notify('{CHANNEL}', OLD.id);
                IF OLD.id IS DISTINCT FROM NEW.id THEN
                    PERFORM pg_notify('{CHANNEL}', NEW.id);
                END IF;
            END IF;
            RETURN NULL;
        END
        $$
        """)
    op.execute(
        "CREATE TRIGGER users_token_state_notify"
        " AFTER UPDATE OF token_version, status, id OR DELETE ON users"
        " FOR EACH ROW EXECUTE FUNCTION kingdom_token_state_notify()"
    )
    op.execute(
        "CREATE TRIGGER users_token_state_notify_all AFTER TRUNCATE ON users"
        " FOR EACH STATEMENT EXECUTE FUNCTION kingdom_token_state_notify()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS users_token_state_notify_all ON users")
    op.execute("DROP TRIGGER IF EXISTS users_token_state_notify ON users")
    op.execute("DROP FUNCTION IF EXISTS kingdom_token_state_notify()")
