"""Pacing: the cheap branch of a password-reset request (or a registration) waits as long as the
expensive one took."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import pytest

from kingdom.domain.identity import RequestPasswordReset, User
from kingdom.services.fakes import FakeApp, FakeClock, FakeUnitOfWork, InMemoryStore
from kingdom.services.identity.pacing import INITIAL_ESTIMATE, LatencyMimic
from kingdom.services.identity.password_reset import RESET_SUBJECT
from kingdom.services.identity.registration import TAKEN_ADDRESS_SUBJECT, WELCOME_SUBJECT
from kingdom.services.ports import Change


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


class SlowUnitOfWork(FakeUnitOfWork):
    """A commit that writes takes 7 ms of the fake clock's time, as a database's takes real time."""

    def __init__(self, store: InMemoryStore, clock: FakeClock) -> None:
        super().__init__(store)
        self.clock = clock

    async def _commit(self, changes: Sequence[Change]) -> None:
        if any(change.write for change in changes):
            self.clock.advance(timedelta(milliseconds=7))
        await super()._commit(changes)


@dataclass
class SlowWrites(FakeApp):
    def unit_of_work(self) -> FakeUnitOfWork:
        return SlowUnitOfWork(self.store, self.clock)


async def test_the_cheap_branch_waits_out_what_the_expensive_one_took():
    sleeps = Sleeps()
    mimic = LatencyMimic(sleep=sleeps)
    mimic.record(timedelta(milliseconds=8))

    await mimic.pad(timedelta(milliseconds=3))
    await mimic.pad(timedelta(milliseconds=9))  # already slower: no wait

    assert sleeps.seconds == [0.005]


async def test_a_measured_sleep_overshoot_is_taken_off_the_next_waits():
    now = [0.0]

    async def oversleeping(seconds: float) -> None:
        sleeps.seconds.append(seconds)
        now[0] += seconds + 0.001  # the loop wakes a millisecond late

    sleeps = Sleeps()
    mimic = LatencyMimic(sleep=oversleeping, monotonic=lambda: now[0])
    mimic.record(timedelta(milliseconds=10))

    for _ in range(60):
        await mimic.pad(timedelta(0))

    assert sleeps.seconds[0] == 0.010
    assert sleeps.seconds[-1] == pytest.approx(0.009, abs=0.0001)


async def test_before_any_sample_the_initial_estimate_is_the_target():
    sleeps = Sleeps()

    await LatencyMimic(sleep=sleeps).pad(timedelta(0))

    assert sleeps.seconds == [INITIAL_ESTIMATE.total_seconds()]


def test_targets_are_drawn_from_recent_samples_so_the_spread_matches():
    mimic = LatencyMimic(keep=3, rng=random.Random(7))
    for ms in (1, 2, 3, 4, 5):
        mimic.record(timedelta(milliseconds=ms))

    drawn = {mimic.target() for _ in range(200)}

    assert drawn == {timedelta(milliseconds=ms) for ms in (3, 4, 5)}  # the last three only


def test_samples_are_clamped():
    mimic = LatencyMimic(cap=timedelta(seconds=1))
    mimic.record(timedelta(hours=1))
    assert mimic.target() == timedelta(seconds=1)
    mimic = LatencyMimic()
    mimic.record(timedelta(seconds=-1))  # a wall clock stepped back
    assert mimic.target() == timedelta(0)


async def test_an_unknown_address_waits_as_long_as_a_known_one_took():
    sleeps = Sleeps()
    app = SlowWrites(settings={"reset_pacing": LatencyMimic(sleep=sleeps)})
    await app.register("ann@example.org")

    await app.bus.handle(RequestPasswordReset(meta=app.meta(), email="ann@example.org"))
    assert sleeps.seconds == []  # the expensive branch never waits
    await app.bus.handle(RequestPasswordReset(meta=app.meta(), email="nobody@example.org"))

    assert sleeps.seconds == [0.007]


async def test_a_paced_request_for_a_known_address_waits_like_an_unknown_one():
    sleeps = Sleeps()
    app = SlowWrites(settings={"reset_pacing": LatencyMimic(sleep=sleeps)})
    await app.register("ann@example.org")
    await app.bus.handle(RequestPasswordReset(meta=app.meta(), email="ann@example.org"))

    # Inside the mail interval: no code, no mail, and the wait of a request that mails nothing.
    await app.bus.handle(RequestPasswordReset(meta=app.meta(), email="ann@example.org"))

    await app.deliver_events()
    assert [mail.subject for mail in app.mailer.sent] == [WELCOME_SUBJECT, RESET_SUBJECT]
    assert sleeps.seconds == [0.007]


async def test_a_taken_address_waits_like_a_new_one_whether_its_owner_is_mailed_or_not():
    sleeps = Sleeps()
    app = SlowWrites(settings={"registration_pacing": LatencyMimic(sleep=sleeps)})
    app.store.put(
        User(id="ann", email="ann@example.org", display_name="Ann", password_hash="fake$v1$0")
    )
    await app.register("bob@example.org")  # new: a user, its event and its welcome (7 ms)

    await app.register("ann@example.org")  # taken: an event and the notice (7 ms here too)
    assert sleeps.seconds == []  # it took as long already
    await app.register("ann@example.org")  # taken, notice paced: writes nothing

    assert sleeps.seconds == [0.007]
    await app.deliver_events()
    assert [(mail.to, mail.subject) for mail in app.mailer.sent] == [
        ("bob@example.org", WELCOME_SUBJECT),
        ("ann@example.org", TAKEN_ADDRESS_SUBJECT),
    ]
