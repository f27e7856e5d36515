"""Repository round trips: what goes in through a SQL unit of work comes back equal."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from integration.adapters.support import schema_database
from kingdom.adapters.identity.tables import refresh_sessions, user_roles
from kingdom.adapters.ledger.tables import transfers
from kingdom.adapters.sql.unit_of_work import SqlUnitOfWork
from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import ResetToken, Role, User, UserStatus
from kingdom.domain.ledger import Account, AccountStatus, Transfer, transfer
from kingdom.domain.shared import MessageMeta, NotFound

NOW = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def meta() -> MessageMeta:
    return MessageMeta(message_id=f"m-{next(_ids)}", occurred_at=NOW)


USER_POLICIES = {
    Policy.of("accounts", Permission.READ | Permission.UPDATE, "acc-1", "acc-2"),
    Policy.of("users", Permission.READ),
}
ROLE_POLICIES = {Policy.of("roles", Permission.ALL), Policy.of("users", Permission.ALL, "u-9")}


def a_user(id: str = "u-1", email: str = "ann@example.org") -> User:
    return User.register(id=id, email=email, display_name="Ann", password_hash="h1", meta=meta())


async def test_users_round_trip_with_policies_and_roles(database_url: str) -> None:
    async with schema_database(database_url) as database:
        async with SqlUnitOfWork(database) as uow:
            auditor = Role.create(code="auditor", name="Auditor", policies=(), meta=meta())
            admin = Role.create(code="admin", name="Admin", policies=ROLE_POLICIES, meta=meta())
            user = a_user()
            user.attach_policies(USER_POLICIES, meta())
            user.assign_role(auditor, meta())
            user.assign_role(admin, meta())
            user.disable(meta())
            for role in (auditor, admin):
                await uow.roles.add(role)
            await uow.users.add(user)
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            loaded = await uow.users.get("u-1")
            by_email = await uow.users.find_by_email("ann@example.org")
            roles = await uow.roles.get_many(["admin", "auditor", "gone"])

        assert by_email is loaded  # one identity map per unit of work
        assert (loaded.id, loaded.email, loaded.display_name) == ("u-1", "ann@example.org", "Ann")
        assert (loaded.status, loaded.password_hash, loaded.token_version) == (
            UserStatus.DISABLED,
            "h1",
            1,
        )
        assert type(loaded.status) is UserStatus
        assert loaded.policies == USER_POLICIES
        assert loaded.role_codes == {"admin", "auditor"}
        assert loaded.version == 1
        assert loaded.pending_events == ()
        assert [(r.code, r.name, r.policies, r.version) for r in roles] == [
            ("admin", "Admin", ROLE_POLICIES, 1),
            ("auditor", "Auditor", set(), 1),
        ]
        assert loaded.effective_policies(roles) == USER_POLICIES | ROLE_POLICIES


async def test_role_changes_are_written_as_a_difference(database_url: str) -> None:
    async with schema_database(database_url) as database:
        async with SqlUnitOfWork(database) as uow:
            roles = [Role.create(code=c, name=c, policies=(), meta=meta()) for c in ("aa", "bb")]
            user = a_user()
            user.assign_role(roles[0], meta())
            for role in roles:
                await uow.roles.add(role)
            await uow.users.add(user)
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            user = await uow.users.get("u-1")
            [bb] = await uow.roles.get_many(["bb"])
            user.revoke_role("aa", meta())
            user.assign_role(bb, meta())
            await uow.commit()
            assert user.version == 2  # a change of roles alone is a change of the user

        async with database.engine.connect() as connection:
            rows = (await connection.execute(select(user_roles))).all()
        assert [tuple(row) for row in rows] == [("u-1", "bb")]


async def test_missing_records_are_none_or_not_found(database_url: str) -> None:
    async with schema_database(database_url) as database, SqlUnitOfWork(database) as uow:
        assert await uow.users.find("nobody") is None
        assert await uow.users.find_by_email("nobody@example.org") is None
        assert await uow.accounts.find("nothing") is None
        assert await uow.roles.get_many(["none"]) == []
        assert await uow.reset_tokens.find_by_hash("0" * 64) is None
        with pytest.raises(NotFound, match="role 'none' does not exist"):
            await uow.roles.get("none")


async def test_accounts_and_transfers_round_trip(database_url: str) -> None:
    async with schema_database(database_url) as database:
        async with SqlUnitOfWork(database) as uow:
            await uow.users.add(a_user())
            source = Account.open(id="acc-1", owner_id="u-1", currency="EUR", meta=meta())
            target = Account.open(id="acc-2", owner_id="u-1", currency="EUR", meta=meta())
            source.deposit(2**62, meta())
            made = transfer(id="t-1", source=source, target=target, amount=2**61, meta=meta())
            for account in (source, target):
                await uow.accounts.add(account)
            await uow.transfers.add(made)
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            source = await uow.accounts.get("acc-1")
            target = await uow.accounts.get("acc-2")
        async with database.engine.connect() as connection:
            [row] = (await connection.execute(select(transfers))).mappings().all()

        assert (source.owner_id, source.currency, source.status) == (
            "u-1",
            "EUR",
            AccountStatus.OPEN,
        )
        assert type(source.status) is AccountStatus
        assert (source.balance, target.balance) == (2**62 - 2**61, 2**61)
        assert (source.version, target.version) == (1, 1)
        assert Transfer(**row) == made


async def test_reset_tokens_round_trip_and_redemption_is_written(database_url: str) -> None:
    expires = NOW + timedelta(minutes=30)
    async with schema_database(database_url) as database:
        async with SqlUnitOfWork(database) as uow:
            await uow.users.add(a_user())
            await uow.reset_tokens.add(ResetToken("tok-1", "u-1", "ab" * 32, expires))
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            token = await uow.reset_tokens.find_by_hash("ab" * 32)
            assert token == ResetToken("tok-1", "u-1", "ab" * 32, expires, None)
            assert token is not None
            token.redeem(NOW + timedelta(minutes=1))
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            again = await uow.reset_tokens.find_by_hash("ab" * 32)
        assert again is not None
        assert again.used_at == NOW + timedelta(minutes=1)
        assert again.expires_at.tzinfo == UTC


async def test_refresh_session_rows_round_trip(database_url: str) -> None:
    row = {
        "id": "fam-1",
        "user_id": "u-1",
        "token_hash": "cd" * 32,
        "rotation_counter": 3,
        "created_at": NOW,
        "last_used_at": NOW + timedelta(hours=1),
        "expires_at": NOW + timedelta(days=30),
        "revoked_at": None,
    }
    async with schema_database(database_url) as database:
        async with SqlUnitOfWork(database) as uow:
            await uow.users.add(a_user())
            await uow.commit()
        async with database.writer.begin() as connection:
            await connection.execute(insert(refresh_sessions), row)
        async with database.engine.connect() as connection:
            stored = (await connection.execute(select(refresh_sessions))).mappings().one()

    assert dict(stored) == row
