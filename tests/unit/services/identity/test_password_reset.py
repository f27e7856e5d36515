from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import (
    ChangePassword,
    DisableUser,
    PasswordResetRequested,
    RequestPasswordReset,
    ResetPassword,
    UserStatus,
)
from kingdom.domain.shared import Invalid, Unauthenticated
from kingdom.services.fakes import FakeApp, actor, superuser
from kingdom.services.identity.password_reset import (
    RESET_MAIL_INTERVAL,
    RESET_TOKEN_TTL,
    InvalidResetToken,
)
from kingdom.services.ports import ConcurrencyConflict
from kingdom.services.retry import NO_RETRY


async def register(app: FakeApp, email: str) -> str:
    """Register ``email``; the workers send its welcome, which the tests here forget."""
    user_id = await app.register(email)
    await app.deliver_events()
    app.mailer.sent.clear()
    return user_id


async def request(app: FakeApp, email: str, *, deliver: bool = True) -> None:
    """Ask for a code; then (``deliver``) let the workers send what the request queued."""
    assert await app.bus.handle(RequestPasswordReset(meta=app.meta(), email=email)) is None
    if deliver:
        await app.deliver_events()


async def reset(app: FakeApp, token: str, new_password: str = "battery staple") -> None:
    await app.bus.handle(ResetPassword(meta=app.meta(), token=token, new_password=new_password))


async def test_a_known_user_gets_a_one_time_secret_by_mail_and_only_its_hash_is_stored():
    app = FakeApp()
    ann = await register(app, "ann@example.org")

    await request(app, "Ann@Example.org", deliver=False)

    [secret] = app.secrets.issued
    [token] = app.store.reset_tokens.values()
    assert token.user_id == ann
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert (
        token.expires_at
        == app.clock.now() + RESET_TOKEN_TTL
        == app.clock.now() + timedelta(minutes=30)
    )
    assert token.used_at is None
    assert token.issued_at == app.clock.now()
    event = app.store.outbox[-1]
    assert isinstance(event, PasswordResetRequested)
    assert (event.user_id, event.token_id, event.expires_at) == (ann, token.id, token.expires_at)
    assert secret not in repr(event)
    # The mail waits for the workers, under the event's id; nothing was sent yet.
    [queued] = app.store.outgoing_mail.values()
    assert (queued.id, queued.recipient) == (event.message_id, "ann@example.org")
    assert secret in queued.body
    assert queued.expires_at == token.expires_at
    assert app.mailer.sent == []

    await app.deliver_events()

    [mail] = app.mailer.sent
    assert mail.to == "ann@example.org"
    assert mail.body == queued.body
    assert app.store.outgoing_mail == {}


@pytest.mark.parametrize("email", ["nobody@example.org", "not an address"])
async def test_an_unknown_address_gets_the_same_answer_after_the_same_work(email):
    app = FakeApp()
    await register(app, "ann@example.org")
    await app.deliver_events()
    commits = app.store.commits

    await request(app, email, deliver=False)

    assert app.secrets.issued == ["secret-1"]  # drawn (and hashed) all the same
    assert app.store.commits == commits + 1  # and a commit, as for a known address
    await app.deliver_events()
    assert app.store.reset_tokens == {}
    assert app.store.outgoing_mail == {}
    assert app.mailer.sent == []


async def test_a_disabled_user_gets_no_reset_mail():
    app = FakeApp()
    ann = await register(app, "ann@example.org")
    app.store.users[ann].status = UserStatus.DISABLED

    await request(app, "ann@example.org")

    assert app.mailer.sent == []
    assert app.store.reset_tokens == {}


async def test_the_token_lifetime_is_injectable():
    app = FakeApp(settings={"reset_token_ttl": timedelta(minutes=5)})
    await register(app, "ann@example.org")

    await request(app, "ann@example.org")

    [token] = app.store.reset_tokens.values()
    assert token.expires_at == app.clock.now() + timedelta(minutes=5)


async def test_nothing_is_mailed_when_the_commit_fails():
    app = FakeApp(retry=NO_RETRY)
    await register(app, "ann@example.org")
    app.store.conflicts_to_raise = 1

    with pytest.raises(ConcurrencyConflict):
        await request(app, "ann@example.org")
    await app.deliver_events()
    assert app.mailer.sent == []
    assert app.store.outgoing_mail == {}
    assert app.store.reset_tokens == {}


async def test_the_secret_resets_the_password_once():
    app = FakeApp()
    ann = await register(app, "ann@example.org")
    await request(app, "ann@example.org")
    [secret] = app.secrets.issued

    await reset(app, secret)

    assert app.store.users[ann].token_version == 1
    [token] = app.store.reset_tokens.values()
    assert token.used_at == app.clock.now()
    await app.login("ann@example.org", "battery staple")
    with pytest.raises(Unauthenticated):
        await app.login("ann@example.org", "correct horse")
    with pytest.raises(InvalidResetToken):
        await reset(app, secret, "another password")


async def test_expired_unknown_and_used_tokens_get_one_and_the_same_error():
    app = FakeApp()
    await register(app, "ann@example.org")
    await register(app, "bob@example.org")
    await request(app, "ann@example.org")
    await request(app, "bob@example.org")
    used, expiring = app.secrets.issued
    await reset(app, used)
    app.clock.advance(RESET_TOKEN_TTL)

    messages = set()
    for token in (used, expiring, "made-up"):
        with pytest.raises(InvalidResetToken) as raised:
            await reset(app, token)
        messages.add(raised.value.message)
    assert len(messages) == 1
    assert issubclass(InvalidResetToken, Invalid)


async def test_a_token_of_a_user_disabled_since_is_refused():
    app = FakeApp()
    ann = await register(app, "ann@example.org")
    await request(app, "ann@example.org")
    app.store.users[ann].status = UserStatus.DISABLED

    with pytest.raises(InvalidResetToken):
        await reset(app, app.secrets.issued[0])


async def test_the_new_password_must_be_acceptable():
    app = FakeApp()
    await register(app, "ann@example.org")
    await request(app, "ann@example.org")

    with pytest.raises(Invalid):
        await reset(app, app.secrets.issued[0], "short")
    [token] = app.store.reset_tokens.values()
    assert token.used_at is None


# Every outstanding code dies when the password changes, by any route.


async def two_codes(app: FakeApp, email: str = "ann@example.org") -> tuple[str, str]:
    """Request a code, wait out the mail interval, request another: (older, newer)."""
    await request(app, email)
    app.clock.advance(RESET_MAIL_INTERVAL)
    await request(app, email)
    older, newer = app.secrets.issued[-2:]
    return older, newer


async def test_resetting_with_the_newer_code_voids_the_older_one():
    app = FakeApp()
    ann = await register(app, "ann@example.org")
    older, newer = await two_codes(app)

    await reset(app, newer, "battery staple")

    with pytest.raises(InvalidResetToken):
        await reset(app, older, "the attackers choice")
    assert all(token.used_at is not None for token in app.store.reset_tokens.values())
    assert app.store.users[ann].token_version == 1  # one password change, not two
    await app.login("ann@example.org", "battery staple")


async def test_resetting_with_the_older_code_voids_the_newer_one():
    app = FakeApp()
    await register(app, "ann@example.org")
    older, newer = await two_codes(app)

    await reset(app, older)

    with pytest.raises(InvalidResetToken):
        await reset(app, newer, "the attackers choice")


@pytest.mark.parametrize("own", [True, False], ids=["own", "by an administrator"])
async def test_changing_the_password_voids_every_outstanding_code(own):
    app = FakeApp()
    ann = await register(app, "ann@example.org")
    older, newer = await two_codes(app)
    who = actor(user_id=ann) if own else actor(Policy.of("users", Permission.UPDATE, ann))

    await app.bus.handle(
        ChangePassword(
            meta=app.meta(),
            actor=who,
            user_id=ann,
            current_password="correct horse" if own else None,
            new_password="battery staple",
        )
    )

    for code in (older, newer):
        with pytest.raises(InvalidResetToken):
            await reset(app, code, "the attackers choice")
    await app.login("ann@example.org", "battery staple")


async def test_disabling_a_user_voids_its_outstanding_codes():
    app = FakeApp()
    ann = await register(app, "ann@example.org")
    await request(app, "ann@example.org")

    await app.bus.handle(DisableUser(meta=app.meta(), actor=superuser(), user_id=ann))

    [token] = app.store.reset_tokens.values()
    assert token.used_at == app.clock.now()


async def test_other_users_codes_live_on():
    app = FakeApp()
    await register(app, "ann@example.org")
    await register(app, "bob@example.org")
    await request(app, "ann@example.org")
    await request(app, "bob@example.org")
    anns, bobs = app.secrets.issued

    await reset(app, anns)

    await reset(app, bobs)


# At most one code and mail per user per interval.


async def test_repeated_requests_send_one_mail_per_interval_and_answer_the_same():
    app = FakeApp()
    await register(app, "ann@example.org")
    await app.deliver_events()
    commits = app.store.commits

    for _ in range(10):
        await request(app, "Ann@example.org", deliver=False)  # answers None every time
        app.clock.advance(timedelta(seconds=29))

    assert app.store.commits == commits + 10
    await app.deliver_events()
    assert len(app.mailer.sent) == 1
    assert len(app.store.reset_tokens) == 1
    assert len(app.secrets.issued) == 10  # the same work every time
    assert sum(isinstance(e, PasswordResetRequested) for e in app.store.outbox) == 1

    app.clock.advance(RESET_MAIL_INTERVAL)
    await request(app, "ann@example.org")
    assert len(app.mailer.sent) == 2


async def test_the_mail_interval_is_injectable():
    app = FakeApp(settings={"reset_mail_interval": timedelta(minutes=1)})
    await register(app, "ann@example.org")
    await request(app, "ann@example.org")
    app.clock.advance(timedelta(seconds=59))
    await request(app, "ann@example.org")
    assert len(app.mailer.sent) == 1

    app.clock.advance(timedelta(seconds=1))
    await request(app, "ann@example.org")

    assert len(app.mailer.sent) == 2


async def test_an_expired_code_does_not_hold_up_the_next():
    app = FakeApp(settings={"reset_token_ttl": timedelta(minutes=1)})
    await register(app, "ann@example.org")
    await request(app, "ann@example.org")
    app.clock.advance(timedelta(minutes=1))

    await request(app, "ann@example.org")

    assert len(app.mailer.sent) == 2


async def test_pacing_is_per_user():
    app = FakeApp()
    await register(app, "ann@example.org")
    await register(app, "bob@example.org")

    await request(app, "ann@example.org")
    await request(app, "bob@example.org")

    assert [mail.to for mail in app.mailer.sent] == ["ann@example.org", "bob@example.org"]
