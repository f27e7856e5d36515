"""The login throttle's decisions: free failures, growing delays, the cap, soft expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kingdom.services.fakes import EPOCH, FakeClock, FakeLoginThrottle
from kingdom.services.ports import (
    ThrottleCounter,
    ThrottlePolicy,
    account_key,
    address_key,
    login_keys,
    registration_email_key,
    registration_key,
    registration_keys,
)

ANN = account_key("ann@example.org")
HOST = address_key("203.0.113.7")


async def fail(throttle: FakeLoginThrottle, clock: FakeClock, times: int, *keys: str) -> None:
    for _ in range(times):
        await throttle.record_failure(keys or (ANN,), clock.now())


async def test_the_first_five_failures_of_an_account_are_free():
    throttle, clock = FakeLoginThrottle(), FakeClock()

    await fail(throttle, clock, 5)

    assert throttle.failures(ANN) == 5
    assert await throttle.check([ANN], clock.now()) is None


async def test_each_further_failure_doubles_the_delay_from_one_second():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    await fail(throttle, clock, 5)

    waits = []
    for _ in range(5):
        await fail(throttle, clock, 1)
        waits.append(await throttle.check([ANN], clock.now()))

    assert waits == [1, 2, 4, 8, 16]


async def test_the_delay_is_capped():
    throttle, clock = FakeLoginThrottle(), FakeClock()

    await fail(throttle, clock, 200)  # 2**194 s uncapped

    assert await throttle.check([ANN], clock.now()) == 15 * 60


async def test_a_block_ends_when_its_delay_has_passed():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    await fail(throttle, clock, 7)  # blocked for 2 s

    clock.advance(timedelta(seconds=1.5))
    assert await throttle.check([ANN], clock.now()) == 1  # 0.5 s left, rounded up
    clock.advance(timedelta(seconds=0.5))
    assert await throttle.check([ANN], clock.now()) is None
    assert throttle.failures(ANN) == 7  # free to try, but the count is still there


async def test_counters_are_forgotten_after_a_quiet_window():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    await fail(throttle, clock, 4)

    clock.advance(timedelta(minutes=15))
    await fail(throttle, clock, 1)

    assert throttle.failures(ANN) == 1  # started over: the next four are free again


async def test_a_blocked_counter_is_forgotten_a_quiet_window_after_the_block_ends():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    await fail(throttle, clock, 20)  # blocked for the whole 15 minutes

    clock.advance(timedelta(minutes=15))
    assert await throttle.check([ANN], clock.now()) is None
    await fail(throttle, clock, 1)
    # Trying again as soon as the block ends earns no fresh free failures.
    assert throttle.failures(ANN) == 21
    assert await throttle.check([ANN], clock.now()) == 15 * 60

    clock.advance(timedelta(minutes=30))  # the block, then the quiet window
    await fail(throttle, clock, 1)
    assert throttle.failures(ANN) == 1


async def test_failures_within_the_quiet_window_keep_the_counter_alive():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    for _ in range(6):
        await fail(throttle, clock, 1)
        clock.advance(timedelta(minutes=14))

    assert throttle.failures(ANN) == 6


async def test_an_address_has_twenty_free_failures():
    throttle, clock = FakeLoginThrottle(), FakeClock()

    for n in range(20):
        await fail(throttle, clock, 1, account_key(f"user{n}@example.org"), HOST)
    assert await throttle.check([HOST], clock.now()) is None
    await fail(throttle, clock, 1, account_key("user20@example.org"), HOST)

    assert await throttle.check([HOST], clock.now()) == 1
    # Any account tried from that address waits, even one never tried before.
    assert await throttle.check(login_keys("new@example.org", "203.0.113.7"), clock.now()) == 1


async def test_check_answers_for_the_most_blocked_key():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    await fail(throttle, clock, 8)  # the account: 4 s
    await fail(throttle, clock, 21, HOST)  # the address: 1 s

    assert await throttle.check([HOST, ANN], clock.now()) == 4


async def test_success_clears_the_account_but_not_the_address():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    await fail(throttle, clock, 21, ANN, HOST)

    await throttle.record_success(ANN)

    assert throttle.failures(ANN) == 0
    assert throttle.failures(HOST) == 21
    assert await throttle.check([HOST], clock.now()) == 1


async def test_only_an_account_key_is_cleared_on_success():
    with pytest.raises(ValueError, match="account key"):
        await FakeLoginThrottle().record_success(HOST)


async def test_a_malformed_key_is_refused_before_anything_is_stored():
    throttle = FakeLoginThrottle()

    with pytest.raises(ValueError, match="not a throttle key"):
        await throttle.record_failure([ANN, "ann@example.org"], EPOCH)
    assert throttle.counters == {}


async def test_a_key_named_twice_in_one_attempt_counts_once():
    throttle, clock = FakeLoginThrottle(), FakeClock()

    await throttle.record_failure([ANN, ANN], clock.now())

    assert throttle.failures(ANN) == 1


async def test_unknown_and_known_accounts_are_alike_to_the_throttle():
    # The throttle never asks whether an account exists: the key is the typed address.
    throttle, clock = FakeLoginThrottle(), FakeClock()
    registered, unregistered = account_key("ann@example.org"), account_key("nobody@example.org")

    await fail(throttle, clock, 7, registered)
    await fail(throttle, clock, 7, unregistered)

    assert throttle.counters[registered].failures == throttle.counters[unregistered].failures
    assert await throttle.check([registered], clock.now()) == 2
    assert await throttle.check([unregistered], clock.now()) == 2


def test_a_concurrent_failure_with_an_earlier_clock_never_shortens_a_block():
    policy = ThrottlePolicy()
    later = ThrottleCounter(
        key=ANN, failures=8, last_failure_at=EPOCH, blocked_until=EPOCH + timedelta(seconds=4)
    )

    counter = policy.after_failure(ANN, later, EPOCH - timedelta(seconds=3))

    assert counter.failures == 9
    assert counter.last_failure_at == EPOCH
    assert counter.blocked_until == EPOCH + timedelta(seconds=5)  # max(4 s, -3 s + 8 s)


def test_custom_limits():
    policy = ThrottlePolicy(
        account_free_failures=0,
        address_free_failures=2,
        max_delay=timedelta(seconds=3),
        quiet_window=timedelta(seconds=2),
    )

    assert [policy.delay(ANN, n).total_seconds() for n in range(5)] == [0, 1, 2, 3, 3]
    assert [policy.delay(HOST, n).total_seconds() for n in range(5)] == [0, 0, 0, 1, 2]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"account_free_failures": -1}, "negative"),
        ({"register_free_attempts": -1}, "negative"),
        ({"first_delay": timedelta(0)}, "positive"),
        ({"max_delay": timedelta(milliseconds=500)}, "at least the first delay"),
        ({"quiet_window": timedelta(0)}, "quiet window"),
    ],
)
def test_a_nonsensical_policy_is_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        ThrottlePolicy(**arguments)


@pytest.mark.parametrize(
    ("email", "key"),
    [
        ("  Ann@Example.ORG ", "account:ann@example.org"),
        ("not an address", "account:not an address"),
    ],
)
def test_account_keys_are_the_typed_address_normalised(email, key):
    assert account_key(email) == key


def test_an_overlong_account_key_is_hashed_to_a_bounded_length():
    key = account_key("a" * 10_000 + "@example.org")

    assert key.startswith("account:sha256:")
    assert len(key) < 100


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "address:203.0.113.7"),
        # One IPv6 client picks the low 64 bits at will: its /64 is one address.
        ("2001:db8:1:2:aaaa::1", "address:2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "address:2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "address:203.0.113.7"),
        ("testclient", "address:testclient"),
    ],
)
def test_address_keys(address, key):
    assert address_key(address) == key


def test_an_attempt_without_an_address_counts_against_its_account_only():
    assert login_keys("ann@example.org", None) == (ANN,)
    assert login_keys("ann@example.org", "203.0.113.7") == (ANN, HOST)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "register:203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "register:2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "register:203.0.113.7"),
        ("testclient", "register:testclient"),
    ],
)
def test_registration_keys_name_the_address_like_login_keys_but_apart(address, key):
    assert registration_key(address) == key
    assert registration_keys(address) == (key,)
    assert registration_keys(None) == ()


async def test_an_address_has_twenty_free_registrations_counted_apart_from_its_logins():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    registering = registration_key("203.0.113.7")

    await fail(throttle, clock, 20, registering)
    assert await throttle.check([registering], clock.now()) is None
    await fail(throttle, clock, 1, registering)

    assert await throttle.check([registering], clock.now()) == 1
    assert await throttle.check([HOST], clock.now()) is None


def test_registration_email_keys_name_the_address_as_typed_normalised():
    assert registration_email_key("  Ann@Example.ORG ") == "register-email:ann@example.org"
    assert registration_email_key("a" * 10_000).startswith("register-email:sha256:")


async def test_a_registration_email_key_counts_and_never_blocks():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    mailed = registration_email_key("ann@example.org")

    await fail(throttle, clock, 1000, mailed)

    assert await throttle.check([mailed], clock.now()) is None
    assert throttle.counters[mailed].blocked_until is None
    assert throttle.failures(mailed) == 1000


async def test_last_counted_is_when_a_key_was_last_counted_until_it_is_forgotten():
    throttle, clock = FakeLoginThrottle(), FakeClock()
    mailed = registration_email_key("ann@example.org")
    assert await throttle.last_counted(mailed, clock.now()) is None

    await fail(throttle, clock, 1, mailed)
    counted = clock.now()
    clock.advance(timedelta(minutes=14))

    assert await throttle.last_counted(mailed, clock.now()) == counted
    clock.advance(timedelta(minutes=1))  # the quiet window: as good as pruned
    assert await throttle.last_counted(mailed, clock.now()) is None
    with pytest.raises(ValueError, match="not a throttle key"):
        await throttle.last_counted("ann@example.org", clock.now())
