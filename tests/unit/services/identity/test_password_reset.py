from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from kingdom.domain.identity import (
    PasswordResetRequested,
    RequestPasswordReset,
    ResetPassword,
    UserStatus,
)
from kingdom.domain.shared import Invalid, Unauthenticated
from kingdom.services.fakes import FakeApp
from kingdom.services.identity.password_reset import RESET_TOKEN_TTL, InvalidResetToken
from kingdom.services.ports import ConcurrencyConflict
from kingdom.services.retry import NO_RETRY


async def request(app: FakeApp, email: str) -> None:
    assert await app.bus.handle(RequestPasswordReset(meta=app.meta(), email=email)) is None


async def reset(app: FakeApp, token: str, new_password: str = "battery staple") -> None:
    await app.bus.handle(ResetPassword(meta=app.meta(), token=token, new_password=new_password))


async def test_a_known_user_gets_a_one_time_secret_by_mail_and_only_its_hash_is_stored():
    app = FakeApp()
    ann = await app.register("ann@example.org")

    await request(app, "Ann@Example.org")

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
    [mail] = app.mailer.sent
    assert mail.to == "ann@example.org"
    assert secret in mail.body
    event = app.publisher.published[-1]
    assert isinstance(event, PasswordResetRequested)
    assert (event.user_id, event.token_id, event.expires_at) == (ann, token.id, token.expires_at)
    assert secret not in repr(event)


@pytest.mark.parametrize("email", ["nobody@example.org", "not an address"])
async def test_an_unknown_address_gets_the_same_answer_after_the_same_work(email):
    app = FakeApp()
    await app.register("ann@example.org")
    commits = app.store.commits

    await request(app, email)

    assert app.secrets.issued == ["secret-1"]  # drawn (and hashed) all the same
    assert app.store.commits == commits + 1  # and a commit, as for a known address
    assert app.store.reset_tokens == {}
    assert app.mailer.sent == []


async def test_a_disabled_user_gets_no_reset_mail():
    app = FakeApp()
    ann = await app.register("ann@example.org")
    app.store.users[ann].status = UserStatus.DISABLED

    await request(app, "ann@example.org")

    assert app.mailer.sent == []
    assert app.store.reset_tokens == {}


async def test_the_token_lifetime_is_injectable():
    app = FakeApp(settings={"reset_token_ttl": timedelta(minutes=5)})
    await app.register("ann@example.org")

    await request(app, "ann@example.org")

    [token] = app.store.reset_tokens.values()
    assert token.expires_at == app.clock.now() + timedelta(minutes=5)


async def test_nothing_is_mailed_when_the_commit_fails():
    app = FakeApp(retry=NO_RETRY)
    await app.register("ann@example.org")
    app.store.conflicts_to_raise = 1

    with pytest.raises(ConcurrencyConflict):
        await request(app, "ann@example.org")
    assert app.mailer.sent == []
    assert app.store.reset_tokens == {}


async def test_the_secret_resets_the_password_once():
    app = FakeApp()
    ann = await app.register("ann@example.org")
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
    await app.register("ann@example.org")
    await request(app, "ann@example.org")
    await request(app, "ann@example.org")
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
    ann = await app.register("ann@example.org")
    await request(app, "ann@example.org")
    app.store.users[ann].status = UserStatus.DISABLED

    with pytest.raises(InvalidResetToken):
        await reset(app, app.secrets.issued[0])


async def test_the_new_password_must_be_acceptable():
    app = FakeApp()
    await app.register("ann@example.org")
    await request(app, "ann@example.org")

    with pytest.raises(Invalid):
        await reset(app, app.secrets.issued[0], "short")
    [token] = app.store.reset_tokens.values()
    assert token.used_at is None
