from __future__ import annotations

import pytest

from kingdom.domain.access import Permission, Policy, compile_policies
from kingdom.domain.identity import PasswordChanged, Role, UserStatus
from kingdom.domain.shared import Unauthenticated
from kingdom.services.fakes import FakeApp, superuser
from kingdom.services.identity.authentication import BAD_CREDENTIALS, BadCredentials
from kingdom.services.ports import account_key

ACCOUNTS_READ = Policy.of("accounts", Permission.READ)
USER_UPDATE = Policy.of("users", Permission.UPDATE, "someone")


async def test_login_issues_a_token_with_the_effective_context_and_token_version():
    app = FakeApp()
    user_id = await app.register("ann@example.org")
    app.store.put(Role(code="reader", name="Reader", policies=[ACCOUNTS_READ]))
    user = app.store.users[user_id]
    user.role_codes = {"reader", "deleted-role"}
    user.policies = {USER_UPDATE}
    user.token_version = 4

    issued = await app.login("ANN@example.org")

    claims = app.tokens.claims(issued.token)
    assert claims is not None
    assert claims.user_id == user_id
    assert claims.context == compile_policies([ACCOUNTS_READ, USER_UPDATE])
    assert claims.token_version == 4
    assert issued.expires_at > app.clock.now()


async def test_unknown_user_and_wrong_password_get_the_same_error_after_the_same_work():
    app = FakeApp()
    await app.register("ann@example.org")

    outcomes = []
    for email, password in [
        ("nobody@example.org", "correct horse"),
        ("ann@example.org", "wrong password"),
        ("not an address", "correct horse"),
    ]:
        before = app.hasher.verifications
        with pytest.raises(Unauthenticated) as raised:
            await app.login(email, password)
        outcomes.append((raised.value.message, app.hasher.verifications - before))

    assert outcomes == [(BAD_CREDENTIALS, 1)] * 3
    assert app.hasher.calls["dummy_verify"] == 2


async def test_a_disabled_account_gets_the_wrong_password_answer_even_for_the_right_one():
    # A different answer for the right password would confirm a guess.
    app = FakeApp()
    await app.register("bob@example.org")
    user_id = await app.register("ann@example.org")
    app.store.users[user_id].status = UserStatus.DISABLED

    outcomes = []
    for email, password in [
        ("ann@example.org", "correct horse"),  # disabled, right password
        ("ann@example.org", "wrong password"),  # disabled, wrong password
        ("bob@example.org", "wrong password"),  # active, wrong password
    ]:
        before = app.hasher.verifications
        with pytest.raises(BadCredentials) as raised:
            await app.login(email, password)
        outcomes.append((raised.value.message, app.hasher.verifications - before))

    assert outcomes == [(BAD_CREDENTIALS, 1)] * 3
    assert app.tokens.issued == {}
    assert app.throttle.failures(account_key("ann@example.org")) == 2  # both counted


async def test_an_outdated_hash_is_upgraded_at_login_without_voiding_tokens():
    app = FakeApp()
    user_id = await app.register("ann@example.org")
    app.hasher.scheme = 2
    app.store.outbox.clear()

    issued = await app.login("ann@example.org")

    user = app.store.users[user_id]
    assert user.password_hash.startswith("fake$v2$")
    assert user.token_version == 0
    assert app.tokens.claims(issued.token).token_version == 0  # type: ignore[union-attr]
    assert not any(isinstance(e, PasswordChanged) for e in app.store.outbox)
    await app.login("ann@example.org")  # the new hash verifies


async def test_a_current_hash_is_left_alone():
    app = FakeApp()
    user_id = await app.register("ann@example.org")
    stored = app.store.users[user_id].password_hash

    await app.login("ann@example.org")

    assert app.store.users[user_id].password_hash == stored
    assert app.store.users[user_id].version == 1  # the user row was not written again
    assert app.hasher.calls["hash"] == 1  # at registration only


async def test_a_superuser_token_carries_its_grants():
    app = FakeApp()
    user_id = await app.register("root@example.org")
    app.store.users[user_id].policies = set(superuser().context.policies())

    issued = await app.login("root@example.org")

    claims = app.tokens.claims(issued.token)
    assert claims is not None
    assert claims.context == superuser().context
