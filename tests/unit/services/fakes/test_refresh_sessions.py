"""The fake refresh-session repository: an identity map with the SQL adapter's compare-and-set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kingdom.domain.identity import RefreshSession
from kingdom.domain.shared import Conflict, NotFound
from kingdom.services.fakes import FakeUnitOfWork, InMemoryStore
from kingdom.services.ports import ConcurrencyConflict

NOW = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def a_session(
    id: str = "s-1", user_id: str = "u-1", token_hash: str = "h-1", now: datetime = NOW
) -> RefreshSession:
    return RefreshSession.start(id, user_id, token_hash, now, absolute_lifetime=30 * DAY)


def seeded(*sessions: RefreshSession) -> InMemoryStore:
    store = InMemoryStore()
    store.put(*(sessions or (a_session(),)))
    return store


async def test_a_new_session_is_findable_before_commit_and_stored_on_commit() -> None:
    store = InMemoryStore()
    async with FakeUnitOfWork(store) as uow:
        session = a_session()
        await uow.sessions.add(session)
        assert await uow.sessions.find("s-1") is session
        assert await uow.sessions.find_by_hash("h-1") is session
        assert "s-1" not in store.refresh_sessions
        await uow.commit()
    assert store.refresh_sessions["s-1"] == session
    assert store.refresh_sessions["s-1"] is not session  # a private copy


async def test_adding_an_id_already_seen_is_refused_at_once() -> None:
    async with FakeUnitOfWork(seeded()) as uow:
        await uow.sessions.get("s-1")
        with pytest.raises(Conflict, match="refresh session 's-1' already exists"):
            await uow.sessions.add(a_session(token_hash="h-2"))


async def test_adding_an_id_the_store_already_has_is_a_concurrency_conflict() -> None:
    store = seeded()
    async with FakeUnitOfWork(store) as uow:
        await uow.sessions.add(a_session(token_hash="h-2"))
        with pytest.raises(ConcurrencyConflict, match="created concurrently"):
            await uow.commit()
    assert store.refresh_sessions["s-1"].token_hash == "h-1"


async def test_adding_a_token_hash_the_store_already_has_is_a_concurrency_conflict() -> None:
    store = seeded()
    async with FakeUnitOfWork(store) as uow:
        await uow.sessions.add(a_session(id="s-2", token_hash="h-1"))
        with pytest.raises(ConcurrencyConflict, match="token hash"):
            await uow.commit()
    assert "s-2" not in store.refresh_sessions


async def test_repositories_are_identity_maps() -> None:
    async with FakeUnitOfWork(seeded()) as uow:
        by_id = await uow.sessions.get("s-1")
        assert await uow.sessions.find("s-1") is by_id
        assert await uow.sessions.find_by_hash("h-1") is by_id
        assert await uow.sessions.list_live_for_user("u-1", NOW) == [by_id]
        assert uow.sessions.seen == (by_id,)


async def test_unknown_sessions_are_none_or_not_found() -> None:
    async with FakeUnitOfWork(seeded()) as uow:
        assert await uow.sessions.find("nope") is None
        assert await uow.sessions.find_by_hash("nope") is None
        with pytest.raises(NotFound, match="refresh session 'nope'"):
            await uow.sessions.get("nope")


async def test_a_token_rotated_away_in_memory_is_no_longer_found_by_its_hash() -> None:
    async with FakeUnitOfWork(seeded()) as uow:
        session = await uow.sessions.get("s-1")
        session.rotate("h-2", NOW)
        # Storage still holds h-1 for this id; the identity map knows better.
        assert await uow.sessions.find_by_hash("h-1") is None
        assert await uow.sessions.find_by_hash("h-2") is session


async def test_a_rotation_is_written_on_commit_only() -> None:
    store = seeded()
    async with FakeUnitOfWork(store) as uow:
        session = await uow.sessions.get("s-1")
        session.rotate("h-2", NOW + DAY)
        assert store.refresh_sessions["s-1"].token_hash == "h-1"  # a copy until committed
    assert store.refresh_sessions["s-1"].token_hash == "h-1"  # never committed

    async with FakeUnitOfWork(store) as uow:
        session = await uow.sessions.get("s-1")
        session.rotate("h-2", NOW + DAY)
        await uow.commit()
    stored = store.refresh_sessions["s-1"]
    assert (stored.token_hash, stored.rotation_counter, stored.last_used_at) == (
        "h-2",
        1,
        NOW + DAY,
    )


async def test_reading_writes_nothing() -> None:
    store = seeded()
    stored = store.refresh_sessions["s-1"]
    async with FakeUnitOfWork(store) as uow:
        await uow.sessions.get("s-1")
        await uow.commit()
    assert store.refresh_sessions["s-1"] is stored


async def test_of_two_concurrent_rotations_exactly_one_commits() -> None:
    store = seeded()
    first, second = FakeUnitOfWork(store), FakeUnitOfWork(store)
    async with first, second:
        mine = await first.sessions.get("s-1")
        theirs = await second.sessions.find_by_hash("h-1")
        assert theirs is not None
        theirs.rotate("h-theirs", NOW)
        await second.commit()
        mine.rotate("h-mine", NOW)
        with pytest.raises(ConcurrencyConflict, match="changed concurrently"):
            await first.commit()
    assert store.refresh_sessions["s-1"].token_hash == "h-theirs"


async def test_a_revocation_racing_a_rotation_conflicts_and_writes_nothing() -> None:
    store = seeded(a_session(), a_session(id="s-2", token_hash="h-x"))
    first, second = FakeUnitOfWork(store), FakeUnitOfWork(store)
    async with first, second:
        revoked = await first.sessions.revoke_all_for_user("u-1", NOW)
        assert [s.id for s in revoked] == ["s-1", "s-2"]
        (await second.sessions.get("s-1")).rotate("h-2", NOW)
        await second.commit()
        with pytest.raises(ConcurrencyConflict):
            await first.commit()
    assert all(s.revoked_at is None for s in store.refresh_sessions.values())  # all or nothing


async def test_a_session_deleted_meanwhile_conflicts() -> None:
    store = seeded()
    async with FakeUnitOfWork(store) as uow:
        (await uow.sessions.get("s-1")).revoke(NOW)
        del store.refresh_sessions["s-1"]
        with pytest.raises(ConcurrencyConflict):
            await uow.commit()


async def test_rotating_onto_a_taken_token_hash_conflicts() -> None:
    store = seeded(a_session(), a_session(id="s-2", token_hash="h-2"))
    async with FakeUnitOfWork(store) as uow:
        (await uow.sessions.get("s-1")).rotate("h-2", NOW)
        with pytest.raises(ConcurrencyConflict, match="token hash"):
            await uow.commit()
    assert store.refresh_sessions["s-1"].token_hash == "h-1"


async def test_live_sessions_of_a_user_skip_revoked_expired_and_other_users() -> None:
    revoked = a_session(id="s-revoked", token_hash="h-r")
    revoked.revoke(NOW)
    store = seeded(
        a_session(id="s-new", token_hash="h-n", now=NOW + DAY),
        a_session(id="s-old", token_hash="h-o"),
        a_session(id="s-expired", token_hash="h-e", now=NOW - 31 * DAY),
        revoked,
        a_session(id="s-other", user_id="u-2", token_hash="h-u2"),
    )
    async with FakeUnitOfWork(store) as uow:
        live = await uow.sessions.list_live_for_user("u-1", NOW + DAY)
        assert [s.id for s in live] == ["s-old", "s-new"]  # oldest first
        assert await uow.sessions.list_live_for_user("u-1", NOW + 40 * DAY) == []


async def test_live_sessions_count_this_unit_of_works_changes() -> None:
    store = seeded(a_session(), a_session(id="s-2", token_hash="h-2"))
    async with FakeUnitOfWork(store) as uow:
        (await uow.sessions.get("s-1")).revoke(NOW)
        added = a_session(id="s-3", token_hash="h-3", now=NOW + DAY)
        await uow.sessions.add(added)
        live = await uow.sessions.list_live_for_user("u-1", NOW + DAY)
        assert [s.id for s in live] == ["s-2", "s-3"]
        assert live[1] is added


async def test_revoke_all_for_user_revokes_the_live_sessions_on_commit() -> None:
    earlier = a_session(id="s-0", token_hash="h-0")
    earlier.revoke(NOW)
    store = seeded(
        earlier,
        a_session(),
        a_session(id="s-2", token_hash="h-2"),
        a_session(id="s-other", user_id="u-2", token_hash="h-o"),
    )
    later = NOW + DAY
    async with FakeUnitOfWork(store) as uow:
        revoked = await uow.sessions.revoke_all_for_user("u-1", later)
        assert [s.id for s in revoked] == ["s-1", "s-2"]
        assert all(s.revoked_at == later for s in revoked)
        await uow.commit()
    stored = store.refresh_sessions
    assert (stored["s-0"].revoked_at, stored["s-1"].revoked_at) == (NOW, later)
    assert stored["s-2"].revoked_at == later
    assert stored["s-other"].revoked_at is None
