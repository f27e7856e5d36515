from datetime import UTC, datetime, timedelta

import pytest

from kingdom.domain.identity import RefreshSession, RefreshSessionExpired, RefreshSessionRevoked
from kingdom.domain.shared import ErrorCode, Invalid, Unauthenticated

LOGIN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LIFETIME = timedelta(days=30)
IDLE = timedelta(days=7)
EXPIRES = LOGIN + LIFETIME


def session() -> RefreshSession:
    return RefreshSession.start(
        id="fam-1", user_id="u-1", token_hash="h0", now=LOGIN, absolute_lifetime=LIFETIME
    )


def test_start_opens_an_unused_unrevoked_session_with_an_absolute_expiry() -> None:
    s = session()
    assert (s.id, s.user_id, s.token_hash) == ("fam-1", "u-1", "h0")
    assert (s.created_at, s.expires_at) == (LOGIN, EXPIRES)
    assert s.rotation_counter == 0
    assert s.last_used_at is None
    assert s.revoked_at is None
    assert s.last_activity == LOGIN
    assert s.is_active(LOGIN, IDLE)


@pytest.mark.parametrize("lifetime", [timedelta(0), timedelta(seconds=-1)])
def test_start_refuses_a_lifetime_that_is_not_positive(lifetime: timedelta) -> None:
    with pytest.raises(Invalid, match="positive lifetime"):
        RefreshSession.start("fam-1", "u-1", "h0", LOGIN, lifetime)


def test_start_refuses_an_empty_token_hash() -> None:
    with pytest.raises(Invalid, match="token hash"):
        RefreshSession.start("fam-1", "u-1", "", LOGIN, LIFETIME)


def test_rotate_replaces_the_token_counts_and_stamps_the_use() -> None:
    s = session()
    used = LOGIN + timedelta(hours=1)
    s.rotate("h1", used)
    assert (s.token_hash, s.rotation_counter, s.last_used_at) == ("h1", 1, used)
    assert s.last_activity == used
    s.rotate("h2", used + timedelta(hours=1))
    assert (s.token_hash, s.rotation_counter) == ("h2", 2)
    assert s.expires_at == EXPIRES  # rotating never extends the login
    assert s.created_at == LOGIN


def test_rotate_refuses_to_keep_the_same_token() -> None:
    s = session()
    with pytest.raises(Invalid, match="new token"):
        s.rotate("h0", LOGIN)
    assert (s.rotation_counter, s.last_used_at) == (0, None)


def test_rotate_refuses_an_empty_token_hash() -> None:
    s = session()
    with pytest.raises(Invalid, match="token hash"):
        s.rotate("", LOGIN)
    assert s.token_hash == "h0"


def test_a_revoked_session_cannot_rotate() -> None:
    s = session()
    s.revoke(LOGIN + timedelta(minutes=1))
    with pytest.raises(RefreshSessionRevoked) as raised:
        s.rotate("h1", LOGIN + timedelta(minutes=2))
    assert isinstance(raised.value, Unauthenticated)
    assert raised.value.code is ErrorCode.UNAUTHENTICATED
    assert "revoked" in raised.value.message
    assert (s.token_hash, s.rotation_counter) == ("h0", 0)


@pytest.mark.parametrize("now", [EXPIRES, EXPIRES + timedelta(days=1)])
def test_an_expired_session_cannot_rotate(now: datetime) -> None:
    s = session()
    with pytest.raises(RefreshSessionExpired) as raised:
        s.rotate("h1", now)
    assert isinstance(raised.value, Unauthenticated)
    assert raised.value.idle is False
    assert raised.value.message == "this session has expired; log in again"
    assert s.token_hash == "h0"


def test_revoked_is_reported_before_expired() -> None:
    s = session()
    s.revoke(LOGIN)
    with pytest.raises(RefreshSessionRevoked):
        s.rotate("h1", EXPIRES + timedelta(days=1))
    with pytest.raises(RefreshSessionRevoked):
        s.ensure_active(EXPIRES + timedelta(days=1), IDLE)


def test_revoke_is_idempotent_and_keeps_the_first_time() -> None:
    s = session()
    first = LOGIN + timedelta(minutes=1)
    s.revoke(first)
    s.revoke(first + timedelta(hours=1))
    assert s.revoked_at == first
    assert not s.is_active(first, IDLE)


def test_revoking_an_expired_session_is_allowed() -> None:
    s = session()
    s.revoke(EXPIRES + timedelta(days=1))
    assert s.revoked_at == EXPIRES + timedelta(days=1)


def test_is_active_ends_at_the_absolute_expiry() -> None:
    s = session()
    huge_idle = LIFETIME * 2
    assert s.is_active(EXPIRES - timedelta(microseconds=1), huge_idle)
    assert not s.is_active(EXPIRES, huge_idle)


def test_is_active_counts_idleness_from_the_start_until_the_first_rotation() -> None:
    s = session()
    assert s.is_active(LOGIN + IDLE, IDLE)  # the limit itself is still fine
    assert not s.is_active(LOGIN + IDLE + timedelta(microseconds=1), IDLE)


def test_is_active_counts_idleness_from_the_last_rotation() -> None:
    s = session()
    used = LOGIN + timedelta(days=5)
    s.rotate("h1", used)
    assert s.is_active(used + IDLE, IDLE)
    assert not s.is_active(used + IDLE + timedelta(seconds=1), IDLE)


def test_ensure_active_passes_an_active_session() -> None:
    s = session()
    s.ensure_active(LOGIN + IDLE, IDLE)


def test_ensure_active_reports_idleness() -> None:
    s = session()
    with pytest.raises(RefreshSessionExpired) as raised:
        s.ensure_active(LOGIN + IDLE + timedelta(seconds=1), IDLE)
    assert raised.value.idle is True
    assert "inactivity" in raised.value.message


def test_ensure_active_reports_the_absolute_expiry_and_revocation() -> None:
    s = session()
    with pytest.raises(RefreshSessionExpired) as expired:
        s.ensure_active(EXPIRES, LIFETIME * 2)
    assert expired.value.idle is False
    s.revoke(LOGIN)
    with pytest.raises(RefreshSessionRevoked):
        s.ensure_active(LOGIN, IDLE)
