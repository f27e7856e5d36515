"""Repository round trips: what goes in through a SQL unit of work comes back equal."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from integration.adapters.support import schema_database
from kingdom.adapters.identity.tables import refresh_sessions, reset_tokens, user_roles
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
            4,  # each grant change voids tokens, and so does disabling
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
            await uow.reset_tokens.add(ResetToken("tok-1", "u-1", "ab" * 32, expires, NOW))
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            token = await uow.reset_tokens.find_by_hash("ab" * 32)
            assert token == ResetToken("tok-1", "u-1", "ab" * 32, expires, NOW, None)
            assert token is not None
            token.redeem(NOW + timedelta(minutes=1))
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            again = await uow.reset_tokens.find_by_hash("ab" * 32)
        assert again is not None
        assert again.used_at == NOW + timedelta(minutes=1)
        assert again.expires_at.tzinfo == UTC


async def test_holders_of_a_role_are_loaded_with_their_roles_as_tracked_users(
    database_url: str,
) -> None:
    async with schema_database(database_url) as database:
        async with SqlUnitOfWork(database) as uow:
            staff = Role.create(code="staff", name="Staff", policies=(), meta=meta())
            ops = Role.create(code="ops", name="Ops", policies=(), meta=meta())
            ann, bob, cid = (a_user(f"u-{n}", f"{n}@example.org") for n in (1, 2, 3))
            for user, roles in ((ann, (staff, ops)), (bob, ()), (cid, (staff,))):
                for role in roles:
                    user.assign_role(role, meta())
            for aggregate in (staff, ops):
                await uow.roles.add(aggregate)
            for user in (ann, bob, cid):
                await uow.users.add(user)
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            cid = await uow.users.get("u-3")
            cid.revoke_role("staff", meta())  # not a holder any more, though stored as one
            bob = await uow.users.get("u-2")
            bob.assign_role(Role(code="staff", name="Staff"), meta())

            holders = await uow.users.holders_of_role("staff")

            assert [holder.id for holder in holders] == ["u-1", "u-2"]
            assert holders[0].role_codes == {"staff", "ops"}
            assert holders[1] is bob
            assert await uow.users.get("u-1") is holders[0]
            assert await uow.users.holders_of_role("ghost") == []
            holders[0].role_policies_changed("staff")
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            stored = {id: await uow.users.get(id) for id in ("u-1", "u-2", "u-3")}
        # Every role assigned or revoked, and the change of a held role, voids tokens.
        assert {id: user.token_version for id, user in stored.items()} == {
            "u-1": 3,
            "u-2": 1,
            "u-3": 2,
        }
        assert {id: user.role_codes for id, user in stored.items()} == {
            "u-1": {"staff", "ops"},
            "u-2": {"staff"},
            "u-3": set(),
        }


def reset_token(
    id: str, issued_at: datetime, user_id: str = "u-1", used_at: datetime | None = None
) -> ResetToken:
    return ResetToken(
        id, user_id, f"{id:0>64}", issued_at + timedelta(minutes=30), issued_at, used_at
    )


async def test_the_latest_reset_token_and_voiding_the_usable_ones(database_url: str) -> None:
    now = NOW + timedelta(minutes=40)
    async with schema_database(database_url) as database:
        async with SqlUnitOfWork(database) as uow:
            await uow.users.add(a_user())
            await uow.users.add(a_user("u-2", "bob@example.org"))
            for token in (
                reset_token("usable", NOW + timedelta(minutes=20)),
                reset_token(
                    "used", NOW + timedelta(minutes=25), used_at=NOW + timedelta(minutes=26)
                ),
                reset_token("expired", NOW),
                reset_token("others", NOW + timedelta(minutes=30), user_id="u-2"),
            ):
                await uow.reset_tokens.add(token)
            await uow.commit()

        async with SqlUnitOfWork(database) as uow:
            latest = await uow.reset_tokens.latest_for_user("u-1")
            assert latest is not None
            assert latest.id == "used"
            assert latest.issued_at == NOW + timedelta(minutes=25)
            assert await uow.reset_tokens.latest_for_user("u-9") is None
            found = await uow.reset_tokens.find_by_hash(f"{'usable':0>64}")
            voided = await uow.reset_tokens.void_all_for_user("u-1", now)
            assert voided == [found]
            assert voided[0] is found
            fresh = reset_token("fresh", now)
            await uow.reset_tokens.add(fresh)
            assert await uow.reset_tokens.latest_for_user("u-1") is fresh
            await uow.commit()

        async with database.engine.connect() as connection:
            rows = (await connection.execute(select(reset_tokens))).mappings().all()
        used_at = {row["id"]: row["used_at"] for row in rows}
        assert used_at == {
            "usable": now,
            "used": NOW + timedelta(minutes=26),
            "expired": None,
            "others": None,
            "fresh": None,
        }


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
