"""Logging in under the throttle: blocked attempts are refused before any password work."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kingdom.domain.identity import Authenticate, UserStatus
from kingdom.domain.shared import ErrorCode, RateLimited, Unauthenticated
from kingdom.services.fakes import FakeApp
from kingdom.services.identity.authentication import BAD_CREDENTIALS
from kingdom.services.ports import account_key, address_key

ADDRESS = "198.51.100.4"


async def login(
    app: FakeApp, email: str, password: str = "correct horse", address: str | None = ADDRESS
) -> Any:
    return await app.bus.handle(
        Authenticate(meta=app.meta(), email=email, password=password, client_address=address)
    )


async def outcome(app: FakeApp, email: str, password: str) -> tuple[str, Any, int]:
    """(error class, message or retry-after, password verifications spent) of a refused login."""
    before = app.hasher.verifications
    with pytest.raises((Unauthenticated, RateLimited)) as raised:
        await login(app, email, password)
    error = raised.value
    detail = error.retry_after_seconds if isinstance(error, RateLimited) else error.message
    return type(error).__name__, detail, app.hasher.verifications - before


async def test_unknown_and_known_accounts_are_throttled_alike():
    known, unknown = FakeApp(), FakeApp()
    await known.register("ann@example.org")
    await unknown.register("ann@example.org")

    seen_known = [await outcome(known, "ann@example.org", "wrong password") for _ in range(8)]
    seen_unknown = [
        await outcome(unknown, "nobody@example.org", "wrong password") for _ in range(8)
    ]

    assert seen_known == seen_unknown
    assert seen_known == [
        *[("BadCredentials", BAD_CREDENTIALS, 1)] * 6,  # 5 free, the 6th blocks for 1 s
        ("RateLimited", 1, 0),  # refused before any password work, real or dummy
        ("RateLimited", 1, 0),
    ]


async def test_a_blocked_account_refuses_the_right_password_too():
    app = FakeApp()
    await app.register("ann@example.org")
    for _ in range(6):
        with pytest.raises(Unauthenticated):
            await login(app, "ann@example.org", "wrong password")

    with pytest.raises(RateLimited) as raised:
        await login(app, "ann@example.org")

    assert raised.value.code is ErrorCode.RATE_LIMITED
    assert raised.value.retry_after_seconds == 1
    assert app.tokens.issued == {}
    assert app.throttle.failures(account_key("ann@example.org")) == 6  # refusals are not failures


async def test_once_the_delay_has_passed_the_right_password_works_and_clears_the_account():
    app = FakeApp()
    await app.register("ann@example.org")
    for _ in range(6):
        with pytest.raises(Unauthenticated):
            await login(app, "ann@example.org", "wrong password")
    with pytest.raises(RateLimited):
        await login(app, "ann@example.org")

    app.clock.advance(timedelta(seconds=1))  # the 6th failure blocked for 1 s
    await login(app, "ann@example.org")

    assert app.throttle.failures(account_key("ann@example.org")) == 0
    assert app.throttle.failures(address_key(ADDRESS)) == 6  # the address keeps its count


async def test_failures_are_counted_although_the_login_rolls_back():
    app = FakeApp()
    await app.register("ann@example.org")
    commits = app.store.commits

    with pytest.raises(Unauthenticated):
        await login(app, "ann@example.org", "wrong password")

    assert app.store.commits == commits
    assert app.throttle.failures(account_key("ann@example.org")) == 1
    assert app.throttle.failures(address_key(ADDRESS)) == 1


async def test_an_address_failing_on_many_accounts_is_blocked_for_every_account():
    app = FakeApp()
    await app.register("ann@example.org")
    for n in range(21):  # password spraying: one guess per account
        with pytest.raises(Unauthenticated):
            await login(app, f"user{n}@example.org", "wrong password")

    with pytest.raises(RateLimited):
        await login(app, "ann@example.org")
    await login(app, "ann@example.org", address="192.0.2.1")  # another address is unaffected


async def test_without_a_client_address_only_the_account_counts():
    app = FakeApp()

    with pytest.raises(Unauthenticated):
        await login(app, "ann@example.org", "wrong password", address=None)

    assert set(app.throttle.counters) == {account_key("ann@example.org")}


async def test_the_limits_are_soft():
    app = FakeApp()
    await app.register("ann@example.org")
    for _ in range(30):  # a persistent attacker, trying again as soon as each block ends
        with pytest.raises(Unauthenticated):
            await login(app, "ann@example.org", "wrong password")
        wait = await app.throttle.check([account_key("ann@example.org")], app.clock.now())
        app.clock.advance(timedelta(seconds=wait or 0))
    # Never forgotten while the attack goes on: no fresh free failures at the cap.
    assert app.throttle.failures(account_key("ann@example.org")) == 30

    app.clock.advance(timedelta(minutes=15))  # the attack stops: a quiet window later...

    await login(app, "ann@example.org")


async def test_a_disabled_account_is_throttled_like_any_other():
    app = FakeApp()
    user_id = await app.register("ann@example.org")
    app.store.users[user_id].status = UserStatus.DISABLED
    for password in ["correct horse", *["wrong password"] * 5]:  # right or wrong: failures
        with pytest.raises(Unauthenticated, match=BAD_CREDENTIALS):
            await login(app, "ann@example.org", password)

    with pytest.raises(RateLimited):
        await login(app, "ann@example.org", "wrong password")
