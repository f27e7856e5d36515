from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from kingdom.domain.access import AccessDenied, Actor, Permission, ReadScope, authorize
from kingdom.domain.identity import RegisterUser, User, UserRegistered, UserStatus
from kingdom.domain.shared import Invalid, RateLimited
from kingdom.services.fakes import FakeApp, FakeLoginThrottle
from kingdom.services.fakes.repositories import state
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.identity.pacing import LatencyMimic
from kingdom.services.ports import ThrottlePolicy, address_key, registration_key


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


async def test_registering_creates_an_active_user_with_a_hashed_password():
    app = FakeApp()

    user_id = await app.register(" Ann@Example.org ", "correct horse", "Ann")

    user = app.store.users[user_id]
    assert (user.email, user.display_name, user.status) == ("ann@example.org", "Ann", "active")
    assert user.status is UserStatus.ACTIVE
    assert await app.hasher.verify(user.password_hash, "correct horse")
    assert "correct horse" not in user.password_hash
    assert (user.role_codes, user.policies) == (set(), set(NEW_USER_POLICIES))
    [event] = app.store.outbox
    assert isinstance(event, UserRegistered)
    assert (event.user_id, event.email) == (user_id, "ann@example.org")
    assert set(event.policies) == set(NEW_USER_POLICIES)


async def test_new_users_start_with_their_own_accounts_and_their_own_user():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    bob = await app.register("bob@example.org")
    context = app.tokens.claims((await app.login("ann@example.org")).token).context  # type: ignore[union-attr]
    me = Actor(ann, context)

    assert authorize(context, "accounts", Permission.CREATE, caller=ann, owner=ann) is True
    assert authorize(context, "accounts", Permission.UPDATE, "a1", caller=ann, owner=ann) is True
    assert authorize(context, "users", Permission.READ, caller=ann) == ReadScope.owned_by(ann)
    with pytest.raises(AccessDenied):
        authorize(context, "accounts", Permission.CREATE, caller=ann, owner=bob)
    with pytest.raises(AccessDenied):
        authorize(context, "accounts", Permission.UPDATE, "a1", caller=ann, owner=bob)
    with pytest.raises(AccessDenied):
        authorize(context, "users", Permission.DELETE, ann, caller=ann, owner=ann)
    assert authorize(context, "roles", Permission.READ, caller=me.user_id).denied


async def test_the_defaults_are_a_dependency_an_operator_can_empty():
    app = FakeApp(settings={"new_user_policies": ()})
    ann = await app.register("ann@example.org")
    assert app.store.users[ann].policies == set()


async def test_a_taken_address_gets_the_same_answer_and_nothing_is_written():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    stored = copy.deepcopy(app.store.users[ann])
    published, hashes = len(app.store.outbox), app.hasher.calls["hash"]

    again = await app.register("ANN@example.org", "another password", "Mallory")

    assert isinstance(again, str)
    assert again != ann
    assert again not in app.store.users  # the id names nobody
    assert list(app.store.users) == [ann]
    assert state(app.store.users[ann]) == state(stored)  # password, name, version unchanged
    assert len(app.store.outbox) == published
    assert app.hasher.calls["hash"] == hashes + 1  # the same work as a new address
    await app.login("ann@example.org", "correct horse")


async def test_a_taken_address_waits_as_long_as_a_new_one_takes():
    sleeps = Sleeps()
    pacing = LatencyMimic(sleep=sleeps, initial=timedelta(milliseconds=6))
    app = FakeApp(settings={"registration_pacing": pacing})
    app.store.put(
        User(id="ann", email="ann@example.org", display_name="Ann", password_hash="fake$v1$0")
    )

    await app.register("ann@example.org")  # taken, nothing measured yet: the initial estimate
    assert sleeps.seconds == [0.006]
    await app.register("bob@example.org")  # new: measured (no time on the fake clock), no wait
    await app.register("ann@example.org")  # taken: waits what bob's took

    assert sleeps.seconds == [0.006]
    assert pacing.target() == timedelta(0)


async def test_bad_input_is_refused_alike_for_taken_and_new_addresses():
    app = FakeApp()
    await app.register("ann@example.org")

    for email in ("ann@example.org", "new@example.org"):
        with pytest.raises(Invalid, match="display name"):
            await app.register(email, display_name="   ")
    assert app.hasher.calls["hash"] == 1  # refused before hashing


# Throttled per client address.

ADDRESS = "198.51.100.4"


async def register_from(app: FakeApp, email: str, address: str | None = ADDRESS) -> str:
    user_id: str = await app.bus.handle(
        RegisterUser(
            meta=app.meta(),
            email=email,
            display_name="Someone",
            password="correct horse",
            client_address=address,
        )
    )
    return user_id


async def test_every_registration_counts_and_too_many_are_rate_limited_before_hashing():
    app = FakeApp(throttle=FakeLoginThrottle(ThrottlePolicy(register_free_attempts=3)))
    await register_from(app, "ann@example.org")
    await register_from(app, "ann@example.org")  # taken: counted all the same
    await register_from(app, "bob@example.org")
    await register_from(app, "cid@example.org")  # the fourth: blocked for 1 s after it
    hashes = app.hasher.calls["hash"]

    with pytest.raises(RateLimited) as raised:
        await register_from(app, "dan@example.org")

    assert raised.value.retry_after_seconds == 1
    assert app.hasher.calls["hash"] == hashes
    assert app.throttle.failures(registration_key(ADDRESS)) == 4  # refusals do not count
    assert app.throttle.failures(address_key(ADDRESS)) == 0  # logins have their own key
    app.clock.advance(timedelta(seconds=1))
    await register_from(app, "dan@example.org")


async def test_registrations_from_elsewhere_or_from_no_known_address_are_not_held_up():
    app = FakeApp(throttle=FakeLoginThrottle(ThrottlePolicy(register_free_attempts=0)))
    await register_from(app, "ann@example.org")  # blocks this address for 1 s

    await register_from(app, "bob@example.org", "203.0.113.9")
    await register_from(app, "cid@example.org", None)

    with pytest.raises(RateLimited):
        await register_from(app, "dan@example.org")
    assert app.throttle.counters.keys() == {
        registration_key(ADDRESS),
        registration_key("203.0.113.9"),
    }


@pytest.mark.parametrize(
    ("email", "password", "name"),
    [
        ("not an address", "correct horse", "Ann"),
        ("ann@example.org", "short", "Ann"),
        ("ann@example.org", "x" * 1025, "Ann"),
        ("ann@example.org", "correct horse", "   "),
    ],
)
async def test_invalid_input_registers_nobody(email, password, name):
    app = FakeApp()
    with pytest.raises(Invalid):
        await app.bus.handle(
            RegisterUser(meta=app.meta(), email=email, password=password, display_name=name)
        )
    assert app.store.users == {}
    assert app.store.outbox == []
