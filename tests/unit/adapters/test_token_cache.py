"""The verified-token cache: a repeated bearer skips verification until its expiry, no longer.

The inner verifier is a recording fake that accepts the tokens it was told
about (each with its own expiry) and refuses the rest, so every test can
count how often real verification ran.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kingdom.adapters.security.token_cache import CachingTokenVerifier
from kingdom.adapters.security.tokens import VerifiedToken
from kingdom.domain.access import PolicyContext
from kingdom.domain.shared import Unauthenticated
from kingdom.services.fakes import FakeClock

LIFETIME = timedelta(minutes=15)


class RecordingVerifier:
    """Accepts the tokens in ``valid`` while the clock is before their expiry; records calls."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.valid: dict[str, datetime] = {}
        self.calls: list[str] = []

    def issue(self, token: str, lifetime: timedelta = LIFETIME) -> str:
        self.valid[token] = self.clock.now() + lifetime
        return token

    def verify(self, token: str) -> VerifiedToken:
        self.calls.append(token)
        expires = self.valid.get(token)
        if expires is None:
            raise Unauthenticated("invalid access token: unknown")
        if self.clock.now() >= expires:
            raise Unauthenticated("invalid access token: token expired")
        return VerifiedToken(
            user_id=f"user-of-{token}",
            context=PolicyContext.empty(),
            token_version=1,
            expires_at=expires,
            token_id=f"jti-{token}",
        )


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def inner(clock: FakeClock) -> RecordingVerifier:
    return RecordingVerifier(clock)


@pytest.fixture()
def cache(inner: RecordingVerifier, clock: FakeClock) -> CachingTokenVerifier:
    return CachingTokenVerifier(inner, clock=clock, max_entries=3)


def test_a_repeated_bearer_is_verified_once(
    cache: CachingTokenVerifier, inner: RecordingVerifier, clock: FakeClock
) -> None:
    token = inner.issue("a")

    first = cache.verify(token)
    clock.advance(LIFETIME - timedelta(seconds=1))
    again = [cache.verify(token) for _ in range(5)]

    assert inner.calls == ["a"]
    assert all(verified is first for verified in again)
    assert first.user_id == "user-of-a"


def test_an_expired_entry_is_checked_again_and_refused(
    cache: CachingTokenVerifier, inner: RecordingVerifier, clock: FakeClock
) -> None:
    token = inner.issue("a")
    cache.verify(token)

    clock.advance(LIFETIME)  # exactly at exp: no longer served from the cache
    with pytest.raises(Unauthenticated, match="expired"):
        cache.verify(token)
    with pytest.raises(Unauthenticated, match="expired"):
        cache.verify(token)

    assert inner.calls == ["a", "a", "a"]
    assert len(cache) == 0


def test_rejections_are_never_cached(cache: CachingTokenVerifier, inner: RecordingVerifier) -> None:
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            cache.verify("forged")

    assert inner.calls == ["forged"] * 3
    assert len(cache) == 0


def test_a_token_accepted_past_its_expiry_is_not_cached(
    inner: RecordingVerifier, clock: FakeClock
) -> None:
    # An inner verifier with leeway may accept a token just past its exp;
    # such a token must go through the full check on every use.
    class Lenient(RecordingVerifier):
        def verify(self, token: str) -> VerifiedToken:
            self.calls.append(token)
            return VerifiedToken(
                user_id="u",
                context=PolicyContext.empty(),
                token_version=1,
                expires_at=self.clock.now() - timedelta(seconds=5),
                token_id="j",
            )

    lenient = Lenient(clock)
    cache = CachingTokenVerifier(lenient, clock=clock)

    cache.verify("late")
    cache.verify("late")

    assert lenient.calls == ["late", "late"]
    assert len(cache) == 0


def test_the_bound_holds_and_the_least_recently_used_goes_first(
    cache: CachingTokenVerifier, inner: RecordingVerifier
) -> None:
    a, b, c, d = (inner.issue(name) for name in "abcd")
    for token in (a, b, c):
        cache.verify(token)
    cache.verify(a)  # a is now the most recently used; b the least

    cache.verify(d)  # a fourth entry evicts b
    assert len(cache) == 3
    inner.calls.clear()
    for token in (a, c, d):
        cache.verify(token)
    assert inner.calls == []
    cache.verify(b)
    assert inner.calls == ["b"]
    assert len(cache) == 3


def test_many_bearers_never_grow_the_cache_past_its_bound(
    inner: RecordingVerifier, clock: FakeClock
) -> None:
    cache = CachingTokenVerifier(inner, clock=clock, max_entries=100)
    for n in range(1000):
        cache.verify(inner.issue(f"t{n}"))
    assert len(cache) == 100


def test_the_bound_must_be_positive(inner: RecordingVerifier, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        CachingTokenVerifier(inner, clock=clock, max_entries=0)
