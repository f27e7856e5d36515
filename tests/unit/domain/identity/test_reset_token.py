from datetime import UTC, datetime, timedelta

import pytest

from kingdom.domain.identity import ResetToken, ResetTokenExpired, ResetTokenUsed
from kingdom.domain.shared import Invalid

ISSUED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EXPIRES = ISSUED + timedelta(hours=1)


def token() -> ResetToken:
    return ResetToken(
        id="rt-1", user_id="u-1", token_hash="h", expires_at=EXPIRES, issued_at=ISSUED
    )


def test_a_fresh_token_is_unused_and_usable_until_it_expires() -> None:
    t = token()
    assert t.used_at is None
    assert t.is_usable(ISSUED)
    assert not t.is_usable(EXPIRES)


def test_redeem_marks_the_token_used() -> None:
    t = token()
    t.redeem(ISSUED + timedelta(minutes=5))
    assert t.used_at == ISSUED + timedelta(minutes=5)
    assert not t.is_usable(ISSUED)


def test_a_token_can_be_redeemed_only_once() -> None:
    t = token()
    t.redeem(ISSUED)
    with pytest.raises(ResetTokenUsed) as raised:
        t.redeem(ISSUED + timedelta(seconds=1))
    assert isinstance(raised.value, Invalid)
    assert "already used" in raised.value.message
    assert t.used_at == ISSUED


@pytest.mark.parametrize("now", [EXPIRES, EXPIRES + timedelta(days=1)])
def test_an_expired_token_is_refused_and_stays_unused(now: datetime) -> None:
    t = token()
    with pytest.raises(ResetTokenExpired) as raised:
        t.redeem(now)
    assert isinstance(raised.value, Invalid)
    assert "expired" in raised.value.message
    assert t.used_at is None


def test_used_is_reported_before_expired() -> None:
    t = token()
    t.redeem(ISSUED)
    with pytest.raises(ResetTokenUsed):
        t.redeem(EXPIRES + timedelta(days=1))
