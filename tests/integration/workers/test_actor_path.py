"""The audit trail says who, and in which request: the command's actor and the request's id
ride on the outbox row to the workers."""

from __future__ import annotations

from sqlalchemy import select

from integration.adapters.support import SqlApp, schema_database
from kingdom.adapters.messaging.envelope import decode_envelope, encode_envelope
from kingdom.adapters.sql.audit import audit_entries
from kingdom.adapters.sql.outbox import outbox
from kingdom.adapters.sql.outbox_feed import SqlOutboxFeed
from kingdom.domain.identity import CreateRole, RegisterUser
from kingdom.services.causation import in_request
from kingdom.services.fakes import superuser


async def test_the_audit_entry_names_the_user_whose_command_committed_the_event(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        app = SqlApp(database)
        await app.bus.handle(
            RegisterUser(
                meta=app.meta(), email="ann@example.org", display_name="Ann", password="a long one"
            )
        )
        with in_request("req-1"):  # what the HTTP layer sets while it serves a request
            await app.bus.handle(
                CreateRole(
                    meta=app.meta(),
                    actor=superuser("u-admin"),
                    code="teller",
                    name="Teller",
                    policies=(),
                )
            )
        async with database.engine.connect() as connection:
            stored = (
                await connection.execute(
                    select(outbox.c.actor_id, outbox.c.request_id).order_by(outbox.c.position)
                )
            ).all()
        # A stranger registering is nobody; a command outside a request has none.
        assert [tuple(row) for row in stored] == [(None, None), ("u-admin", "req-1")]

        # What the relay sends carries them, through the SQS envelope too.
        async with SqlOutboxFeed(database, app.clock).claim(10) as batch:
            sent = [decode_envelope(encode_envelope(m)) for m in batch.messages]
        assert [(m.actor_id, m.request_id) for m in sent] == [(None, None), ("u-admin", "req-1")]

        assert await app.deliver_events() == 2
        async with database.engine.connect() as connection:
            audited = (
                await connection.execute(
                    select(
                        audit_entries.c.event_type,
                        audit_entries.c.actor_id,
                        audit_entries.c.request_id,
                    )
                )
            ).all()
    assert sorted(tuple(row) for row in audited) == [
        ("identity.RoleCreated", "u-admin", "req-1"),
        ("identity.UserRegistered", None, None),
    ]
