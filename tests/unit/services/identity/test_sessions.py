"""Sessions: refresh tokens at login, rotation, reuse detection, expiry, logout, revocation."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import pytest

from kingdom.domain.access import Permission, Policy, compile_policies
from kingdom.domain.identity import (
    ChangePassword,
    DisableUser,
    Logout,
    RefreshTokenReuseDetected,
    RequestPasswordReset,
    ResetPassword,
    Role,
    UserStatus,
)
from kingdom.domain.shared import Event, Unauthenticated
from kingdom.services.fakes import FakeApp, FakeUnitOfWork, actor, superuser
from kingdom.services.identity.new_users import NEW_USER_POLICIES
from kingdom.services.identity.refresh import RefreshTokenReused
from kingdom.services.identity.sessions import (
    MAX_REFRESH_TOKEN_LENGTH,
    InvalidRefreshToken,
    IssuedSession,
    SessionPolicy,
    format_refresh_token,
    parse_refresh_token,
)
from kingdom.services.ports.tracking import Change

EMAIL = "ann@example.org"
POLICY = SessionPolicy(idle_limit=timedelta(hours=1), absolute_lifetime=timedelta(hours=8))


async def logged_in(app: FakeApp | None = None) -> tuple[FakeApp, str, IssuedSession]:
    app = app or FakeApp(session_policy=POLICY)
    user_id = await app.register(EMAIL)
    return app, user_id, await app.login(EMAIL)


async def logout(app: FakeApp, refresh_token: str) -> None:
    assert await app.bus.handle(Logout(meta=app.meta(), refresh_token=refresh_token)) is None


def reuse_events(app: FakeApp) -> list[Event]:
    return [e for e in app.store.outbox if isinstance(e, RefreshTokenReuseDetected)]


async def refused(app: FakeApp, refresh_token: str) -> InvalidRefreshToken:
    with pytest.raises(InvalidRefreshToken) as raised:
        await app.refresh(refresh_token)
    assert raised.value.message == "invalid or expired refresh token; log in again"
    return raised.value


# Login


async def test_login_starts_a_family_and_stores_only_the_hash_of_its_secret():
    app, user_id, issued = await logged_in()

    [session] = app.store.refresh_sessions.values()
    [secret] = app.secrets.issued
    assert issued.refresh_token == f"{session.id}.{secret}"
    assert session.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(session)
    assert issued.refresh_token not in repr(issued)
    assert session.user_id == user_id
    assert session.created_at == app.clock.now()
    assert issued.refresh_expires_at == session.expires_at == app.clock.now() + timedelta(hours=8)
    claims = app.tokens.claims(issued.token)
    assert claims is not None
    assert claims.user_id == user_id


async def test_every_login_is_a_new_family():
    app, _, first = await logged_in()

    second = await app.login(EMAIL)

    assert len(app.store.refresh_sessions) == 2
    assert first.refresh_token.split(".")[0] != second.refresh_token.split(".")[0]


async def test_a_failed_login_starts_no_session():
    app = FakeApp()
    await app.register(EMAIL)

    with pytest.raises(Unauthenticated):
        await app.login(EMAIL, "wrong password")

    assert app.store.refresh_sessions == {}


# Rotation


async def test_a_refresh_rotates_the_token_and_issues_a_new_pair():
    app, user_id, issued = await logged_in()
    app.clock.advance(timedelta(minutes=10))

    renewed = await app.refresh(issued.refresh_token)

    [session] = app.store.refresh_sessions.values()
    new_secret = app.secrets.issued[-1]
    assert renewed.refresh_token == f"{session.id}.{new_secret}"
    assert renewed.refresh_token != issued.refresh_token
    assert renewed.token != issued.token
    assert renewed.refresh_expires_at == issued.refresh_expires_at  # rotation never extends it
    assert session.token_hash == hashlib.sha256(new_secret.encode()).hexdigest()
    assert (session.rotation_counter, session.last_used_at) == (1, app.clock.now())
    assert app.tokens.claims(renewed.token).user_id == user_id  # type: ignore[union-attr]
    assert await app.refresh(renewed.refresh_token)  # the new token works in turn


async def test_a_refresh_carries_the_users_current_policies_and_token_version():
    app, user_id, issued = await logged_in()
    reader = Policy.of("accounts", Permission.READ)
    app.store.put(Role(code="reader", name="Reader", policies=[reader]))
    app.store.users[user_id].role_codes = {"reader"}
    app.store.users[user_id].token_version = 7

    renewed = await app.refresh(issued.refresh_token)

    claims = app.tokens.claims(renewed.token)
    assert claims is not None
    assert claims.context == compile_policies([reader, *NEW_USER_POLICIES])
    assert claims.token_version == 7


async def test_a_disabled_user_cannot_refresh():
    app, user_id, issued = await logged_in()
    app.store.users[user_id].status = UserStatus.DISABLED
    tokens_before = len(app.tokens.issued)

    await refused(app, issued.refresh_token)

    assert len(app.tokens.issued) == tokens_before


# Reuse


async def test_a_used_token_revokes_the_whole_family_and_is_recorded():
    app, user_id, issued = await logged_in()
    renewed = await app.refresh(issued.refresh_token)
    published_before = len(app.store.outbox)

    with pytest.raises(RefreshTokenReused) as raised:
        await app.refresh(issued.refresh_token)  # the old one, replayed

    [session] = app.store.refresh_sessions.values()
    assert session.revoked_at == app.clock.now()
    assert (raised.value.user_id, raised.value.session_id) == (user_id, session.id)
    [event] = reuse_events(app)
    assert (event.user_id, event.session_id) == (user_id, session.id)  # type: ignore[attr-defined]
    assert app.store.outbox[published_before:] == [event]
    await refused(app, renewed.refresh_token)  # the family is dead for its holder too


async def test_a_replay_into_a_revoked_family_is_refused_without_another_event():
    app, _, issued = await logged_in()
    await app.refresh(issued.refresh_token)
    with pytest.raises(RefreshTokenReused):
        await app.refresh(issued.refresh_token)

    error = await refused(app, issued.refresh_token)

    assert not isinstance(error, RefreshTokenReused)
    assert len(reuse_events(app)) == 1


async def test_a_token_naming_another_family_is_reuse_only_of_that_family():
    app, _, ann = await logged_in()
    other = await app.login(EMAIL)
    ann_id = ann.refresh_token.split(".")[0]
    other_secret = other.refresh_token.split(".")[1]

    with pytest.raises(RefreshTokenReused):
        await app.refresh(f"{ann_id}.{other_secret}")

    assert app.store.refresh_sessions[ann_id].revoked_at is not None
    assert await app.refresh(other.refresh_token)


class RacingApp(FakeApp):
    """Runs ``race`` just before the next commit: a request that got there first."""

    race: Callable[[], Awaitable[None]] | None = None

    def unit_of_work(self) -> FakeUnitOfWork:
        app = self

        class Racing(FakeUnitOfWork):
            async def _commit(self, changes: Sequence[Change]) -> None:
                race, app.race = app.race, None
                if race is not None:
                    await race()
                await super()._commit(changes)

        return Racing(self.store)


async def test_of_two_concurrent_refreshes_with_one_token_exactly_one_succeeds():
    app = RacingApp(session_policy=POLICY)
    _, user_id, issued = await logged_in(app)
    winners: list[IssuedSession] = []

    async def other_request() -> None:
        winners.append(await app.refresh(issued.refresh_token))

    app.race = other_request
    # This refresh loads the session, rotates it, and before it commits the
    # other request rotates and commits: the compare-and-set fails, the bus
    # retries, and the retry finds the token used.
    with pytest.raises(RefreshTokenReused):
        await app.refresh(issued.refresh_token)

    assert len(winners) == 1
    [session] = app.store.refresh_sessions.values()
    assert session.rotation_counter == 1
    assert session.revoked_at is not None
    assert len(reuse_events(app)) == 1
    await refused(app, winners[0].refresh_token)


# Expiry


async def test_a_family_idle_past_the_limit_is_refused():
    app, _, issued = await logged_in()
    app.clock.advance(timedelta(hours=1, seconds=1))

    await refused(app, issued.refresh_token)

    assert reuse_events(app) == []


async def test_regular_refreshes_keep_a_family_alive_until_its_absolute_end():
    app, _, issued = await logged_in()
    token = issued.refresh_token
    for _ in range(8):  # 8 x 59 minutes: never idle for an hour, 8 hours not yet reached
        app.clock.advance(timedelta(minutes=59))
        token = (await app.refresh(token)).refresh_token
    app.clock.advance(timedelta(minutes=10))  # past the absolute end, though not idle

    await refused(app, token)


async def test_a_stale_token_of_an_expired_family_is_refused_without_an_event():
    app, _, issued = await logged_in()
    await app.refresh(issued.refresh_token)
    app.clock.advance(timedelta(hours=9))

    await refused(app, issued.refresh_token)

    assert reuse_events(app) == []
    assert [s.revoked_at for s in app.store.refresh_sessions.values()] == [None]


@pytest.mark.parametrize(
    "token",
    [
        "",
        "no-separator",
        ".secret-only",
        "id-only.",
        "id-9999.secret-1",  # an unknown family
        "x" * (MAX_REFRESH_TOKEN_LENGTH - 1) + ".s",  # too long to be real
        "x" * 65 + ".secret-1",  # an id longer than any id
        "id-0003\x00.secret-1",  # characters no token has
        "id-0003.secret 1",
    ],
)
async def test_malformed_and_unknown_tokens_are_refused_alike(token):
    app, _, _ = await logged_in()
    commits = app.store.commits

    await refused(app, token)

    assert app.store.commits == commits


# Logout


async def test_logout_revokes_the_family_and_is_idempotent():
    app, _, issued = await logged_in()
    kept = await app.login(EMAIL)

    await logout(app, issued.refresh_token)
    revoked_at = app.store.refresh_sessions[issued.refresh_token.split(".")[0]].revoked_at
    app.clock.advance(timedelta(minutes=5))
    await logout(app, issued.refresh_token)

    assert revoked_at is not None
    assert app.store.refresh_sessions[issued.refresh_token.split(".")[0]].revoked_at == revoked_at
    await refused(app, issued.refresh_token)
    assert await app.refresh(kept.refresh_token)  # another login is untouched
    assert reuse_events(app) == []


@pytest.mark.parametrize("token", ["", "garbage", "id-9999.secret-1", "id-0003.wrong"])
async def test_logout_answers_the_same_for_unknown_tokens_and_changes_nothing(token):
    app, _, issued = await logged_in()
    commits = app.store.commits

    await logout(app, token)

    assert app.store.commits == commits
    assert await app.refresh(issued.refresh_token)


# Password change, reset, disabling


async def test_changing_ones_own_password_revokes_every_session_and_returns_a_fresh_one():
    app, user_id, first = await logged_in()
    second = await app.login(EMAIL)

    fresh = await app.bus.handle(
        ChangePassword(
            meta=app.meta(),
            actor=actor(user_id=user_id),
            user_id=user_id,
            current_password="correct horse",
            new_password="battery staple",
        )
    )

    assert isinstance(fresh, IssuedSession)
    assert app.tokens.claims(fresh.token).token_version == 1  # type: ignore[union-attr]
    await refused(app, first.refresh_token)
    await refused(app, second.refresh_token)
    live = [s for s in app.store.refresh_sessions.values() if s.revoked_at is None]
    assert [s.id for s in live] == [fresh.refresh_token.split(".")[0]]
    renewed = await app.refresh(fresh.refresh_token)
    assert app.tokens.claims(renewed.token).token_version == 1  # type: ignore[union-attr]


async def test_an_administrators_change_revokes_every_session_and_returns_none():
    app, user_id, issued = await logged_in()
    admin = actor(Policy.of("users", Permission.UPDATE, user_id), user_id="admin")

    result = await app.bus.handle(
        ChangePassword(meta=app.meta(), actor=admin, user_id=user_id, new_password="new secret!")
    )

    assert result is None
    assert all(s.revoked_at is not None for s in app.store.refresh_sessions.values())
    await refused(app, issued.refresh_token)


async def test_a_password_reset_revokes_every_session():
    app, _, first = await logged_in()
    second = await app.login(EMAIL)
    await app.bus.handle(RequestPasswordReset(meta=app.meta(), email=EMAIL))
    code = app.secrets.issued[-1]

    await app.bus.handle(ResetPassword(meta=app.meta(), token=code, new_password="new secret!"))

    await refused(app, first.refresh_token)
    await refused(app, second.refresh_token)
    assert all(s.revoked_at is not None for s in app.store.refresh_sessions.values())


async def test_disabling_a_user_revokes_every_session():
    app, user_id, issued = await logged_in()

    await app.bus.handle(DisableUser(meta=app.meta(), actor=superuser(), user_id=user_id))

    assert all(s.revoked_at is not None for s in app.store.refresh_sessions.values())
    await refused(app, issued.refresh_token)


# The building blocks


def test_a_session_policy_needs_a_positive_idle_limit_within_the_lifetime():
    with pytest.raises(ValueError, match="positive"):
        SessionPolicy(idle_limit=timedelta(0))
    with pytest.raises(ValueError, match="shorter"):
        SessionPolicy(idle_limit=timedelta(days=2), absolute_lifetime=timedelta(days=1))
    assert SessionPolicy() == SessionPolicy(timedelta(days=1), timedelta(days=30))


def test_refresh_tokens_format_and_parse_back():
    assert parse_refresh_token(format_refresh_token("fam-1", "s3cret")) == ("fam-1", "s3cret")
    assert parse_refresh_token("fam-1.sec.ret") == ("fam-1", "sec.ret")
    assert parse_refresh_token("fam-1.bad/secret") is None
    for session_id, secret in [("a.b", "s"), ("", "s"), ("id", "")]:
        with pytest.raises(ValueError, match="refresh token needs"):
            format_refresh_token(session_id, secret)
