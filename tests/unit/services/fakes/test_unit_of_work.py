"""The fake unit of work must behave like a database, or handler tests prove nothing.

What every unit of work promises (identity map, all-or-nothing, versions,
outbox, conflicts, single use) is checked once for the fake, SQLite and
PostgreSQL in ``tests/integration/adapters/test_unit_of_work_contract.py``;
this module keeps what only the fake does or what the contract does not reach.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kingdom.domain.identity import ResetToken, Role, User
from kingdom.domain.ledger import Account, Transfer
from kingdom.domain.shared import Conflict, MessageMeta, NotFound
from kingdom.services.fakes import FakeUnitOfWork, InMemoryStore
from kingdom.services.ports import ConcurrencyConflict

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def meta(n: int = 1) -> MessageMeta:
    return MessageMeta(f"m-{n}", NOW)


def user(id: str = "u-1", email: str = "ann@example.org") -> User:
    return User(id=id, email=email, display_name="Ann", password_hash="fake$v1$x")


def seeded() -> InMemoryStore:
    store = InMemoryStore()
    store.put(
        user(),
        Role(code="staff", name="Staff"),
        Account(id="a-1", owner_id="u-1", currency="EUR", balance=100),
        ResetToken(
            id="t-1",
            user_id="u-1",
            token_hash="h",
            expires_at=NOW + timedelta(hours=1),
            issued_at=NOW,
        ),
        Transfer(
            id="x-1", source_id="a-1", target_id="a-2", amount=1, currency="EUR", occurred_at=NOW
        ),
    )
    return store


async def test_an_explicit_rollback_discards_changes_and_their_events():
    store = seeded()
    async with FakeUnitOfWork(store) as uow:
        account = await uow.accounts.get("a-1")
        account.deposit(5, meta())
        await uow.rollback()
        with pytest.raises(RuntimeError, match="rolled back"):
            await uow.commit()

    assert store.accounts["a-1"].balance == 100
    assert account.pending_events == ()
    assert uow.collect_new_events() == []


async def test_only_committed_events_are_collected_and_collecting_drains_them():
    store = seeded()
    async with FakeUnitOfWork(store) as uow:
        account = await uow.accounts.get("a-1")
        account.deposit(5, meta(1))
        await uow.commit()
        account.deposit(5, meta(2))  # never committed

    events = uow.collect_new_events()
    assert [e.message_id for e in events] == ["m-1"]
    assert store.outbox == events
    assert uow.collect_new_events() == []


async def test_reading_does_not_write_or_bump_versions():
    store = seeded()
    async with FakeUnitOfWork(store) as uow:
        await uow.users.get("u-1")
        await uow.accounts.get("a-1")
        await uow.commit()

    assert store.users["u-1"].version == 0
    assert store.accounts["a-1"].version == 0


async def test_a_stale_version_is_a_concurrency_conflict_and_nothing_is_written():
    store = seeded()
    first, second = FakeUnitOfWork(store), FakeUnitOfWork(store)
    async with first, second:
        mine = await first.accounts.get("a-1")
        theirs = await second.accounts.get("a-1")
        owner = await second.users.get("u-1")
        mine.deposit(1, meta(1))
        await first.commit()

        theirs.deposit(2, meta(2))
        owner.disable(meta(3))
        with pytest.raises(ConcurrencyConflict):
            await second.commit()

    assert store.accounts["a-1"].balance == 101
    assert store.users["u-1"].is_active  # all or nothing


async def test_adding_an_id_already_seen_is_refused_at_once():
    async with FakeUnitOfWork(seeded()) as uow:
        await uow.users.get("u-1")
        with pytest.raises(Conflict):
            await uow.users.add(user())


async def test_find_answers_none_and_get_not_found():
    async with FakeUnitOfWork(seeded()) as uow:
        assert await uow.accounts.find("nope") is None
        assert await uow.users.find_by_email("nobody@example.org") is None
        with pytest.raises(NotFound, match="account 'nope'"):
            await uow.accounts.get("nope")


async def test_get_many_returns_the_existing_roles_sorted_and_skips_the_rest():
    store = seeded()
    store.put(Role(code="auditor", name="Auditor"))
    async with FakeUnitOfWork(store) as uow:
        staff = await uow.roles.get("staff")
        roles = await uow.roles.get_many(["staff", "ghost", "auditor"])
    assert [role.code for role in roles] == ["auditor", "staff"]
    assert roles[1] is staff


async def test_transfers_are_appended_on_commit_only():
    store = seeded()
    record = Transfer(
        id="x-2", source_id="a-1", target_id="a-2", amount=1, currency="EUR", occurred_at=NOW
    )
    async with FakeUnitOfWork(store) as uow:
        await uow.transfers.add(record)
    assert "x-2" not in store.transfers

    async with FakeUnitOfWork(store) as uow:
        await uow.transfers.add(record)
        await uow.commit()
    assert store.transfers["x-2"] == record

    async with FakeUnitOfWork(store) as uow:
        await uow.transfers.add(record)
        with pytest.raises(ConcurrencyConflict):
            await uow.commit()


async def test_reset_tokens_are_found_by_hash_and_written_back_on_commit():
    store = seeded()
    async with FakeUnitOfWork(store) as uow:
        token = await uow.reset_tokens.find_by_hash("h")
        assert token is not None
        assert await uow.reset_tokens.find_by_hash("h") is token
        assert await uow.reset_tokens.find_by_hash("other") is None
        token.redeem(NOW)
        assert store.reset_tokens["t-1"].used_at is None  # a copy until committed
        await uow.commit()
    assert store.reset_tokens["t-1"].used_at == NOW


async def test_a_new_reset_token_is_findable_before_commit():
    async with FakeUnitOfWork(InMemoryStore()) as uow:
        token = ResetToken(id="t-9", user_id="u", token_hash="new", expires_at=NOW, issued_at=NOW)
        await uow.reset_tokens.add(token)
        assert await uow.reset_tokens.find_by_hash("new") is token


async def test_holders_of_a_role_are_tracked_users_as_they_are_in_memory():
    store = seeded()
    store.put(user("u-2", "bob@example.org"), user("u-3", "cid@example.org"))
    for holder in ("u-1", "u-3"):
        store.users[holder].role_codes = {"staff"}
    async with FakeUnitOfWork(store) as uow:
        cid = await uow.users.get("u-3")
        cid.revoke_role("staff", meta(1))  # not a holder any more, though stored as one
        bob = await uow.users.get("u-2")
        bob.assign_role(Role(code="staff", name="Staff"), meta(2))  # a holder, not yet stored

        holders = await uow.users.holders_of_role("staff")

        assert [holder.id for holder in holders] == ["u-1", "u-2"]
        assert holders[1] is bob
        assert await uow.users.get("u-1") is holders[0]
        assert await uow.users.holders_of_role("ghost") == []
        holders[0].role_policies_changed("staff")
        await uow.commit()
    assert store.users["u-1"].token_version == 1


def reset_token(
    id: str, issued_at: datetime, user_id: str = "u-1", used_at: datetime | None = None
) -> ResetToken:
    return ResetToken(
        id=id,
        user_id=user_id,
        token_hash=f"hash-{id}",
        expires_at=issued_at + timedelta(minutes=30),
        issued_at=issued_at,
        used_at=used_at,
    )


async def test_the_latest_reset_token_of_a_user_counts_used_ones_and_those_in_memory():
    store = InMemoryStore()
    later = NOW + timedelta(minutes=1)
    store.put(
        reset_token("t-1", NOW),
        reset_token("t-2", later, used_at=later),
        reset_token("t-3", NOW + timedelta(minutes=5), user_id="u-2"),
    )
    async with FakeUnitOfWork(store) as uow:
        latest = await uow.reset_tokens.latest_for_user("u-1")
        assert latest is not None
        assert latest.id == "t-2"
        assert await uow.reset_tokens.find_by_hash("hash-t-2") is latest
        assert await uow.reset_tokens.latest_for_user("u-9") is None
        fresh = reset_token("t-4", NOW + timedelta(minutes=2))
        await uow.reset_tokens.add(fresh)
        assert await uow.reset_tokens.latest_for_user("u-1") is fresh


async def test_voiding_a_users_reset_tokens_stamps_the_usable_ones_only():
    store = InMemoryStore()
    now = NOW + timedelta(minutes=40)
    store.put(
        reset_token("usable", NOW + timedelta(minutes=20)),
        reset_token("used", NOW + timedelta(minutes=20), used_at=NOW + timedelta(minutes=21)),
        reset_token("expired", NOW),
        reset_token("others", NOW + timedelta(minutes=20), user_id="u-2"),
    )
    async with FakeUnitOfWork(store) as uow:
        found = await uow.reset_tokens.find_by_hash("hash-usable")
        voided = await uow.reset_tokens.void_all_for_user("u-1", now)
        assert voided == [found]
        assert store.reset_tokens["usable"].used_at is None  # until committed
        await uow.commit()
    used_at = {id: token.used_at for id, token in store.reset_tokens.items()}
    assert used_at == {
        "usable": now,
        "used": NOW + timedelta(minutes=21),
        "expired": None,
        "others": None,
    }


async def test_simulated_conflicts_fail_the_next_commits():
    store = seeded()
    store.conflicts_to_raise = 1
    async with FakeUnitOfWork(store) as uow:
        with pytest.raises(ConcurrencyConflict):
            await uow.commit()
    async with FakeUnitOfWork(store) as uow:
        await uow.commit()
    assert store.commits == 1
