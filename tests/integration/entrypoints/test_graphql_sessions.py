"""Sessions over GraphQL, in process: login, refresh, logout, and the new pair on a password change."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from integration.entrypoints.support import PASSWORD, Api, running_api
from kingdom.services.identity.sessions import SessionPolicy

SESSION = "accessToken tokenType expiresAt refreshToken refreshExpiresAt"
LOGIN = f"""
mutation($email: String!, $password: String!) {{
  login(input: {{email: $email, password: $password}}) {{ {SESSION} }}
}}
"""
REFRESH = f"""
mutation($token: String!) {{ refresh(input: {{refreshToken: $token}}) {{ {SESSION} }} }}
"""
LOGOUT = """
mutation($token: String!) { logout(input: {refreshToken: $token}) { loggedOut } }
"""
CHANGE_PASSWORD = f"""
mutation($current: String!, $new: String!) {{
  changePassword(input: {{currentPassword: $current, newPassword: $new}}) {{
    userId session {{ {SESSION} }}
  }}
}}
"""
EMAIL = "ann@example.org"


async def login(api: Api) -> dict[str, Any]:
    session: dict[str, Any] = (await api.ok(LOGIN, {"email": EMAIL, "password": PASSWORD}))["login"]
    return session


async def test_login_returns_a_refresh_token_that_rotates(api: Api) -> None:
    await api.register(EMAIL)

    first = await login(api)
    api.clock.advance(timedelta(minutes=1))
    second = (await api.ok(REFRESH, {"token": first["refreshToken"]}))["refresh"]

    assert first["tokenType"] == second["tokenType"] == "Bearer"
    assert first["refreshToken"].split(".")[0] == second["refreshToken"].split(".")[0]
    assert first["refreshToken"] != second["refreshToken"]
    assert first["accessToken"] != second["accessToken"]
    assert second["refreshExpiresAt"] == first["refreshExpiresAt"]
    assert first["refreshExpiresAt"] > first["expiresAt"]
    viewer = await api.ok("{ viewer { email } }", token=second["accessToken"])
    assert viewer == {"viewer": {"email": EMAIL}}


async def test_a_replayed_refresh_token_ends_the_session_and_is_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    await api.register(EMAIL)
    first = await login(api)
    second = (await api.ok(REFRESH, {"token": first["refreshToken"]}))["refresh"]

    with caplog.at_level(logging.WARNING, logger="kingdom.entrypoints.graphql"):
        replayed = await api.execute(REFRESH, {"token": first["refreshToken"]})
    after = await api.execute(REFRESH, {"token": second["refreshToken"]})

    assert replayed.codes == after.codes == ["UNAUTHENTICATED"]
    assert replayed.errors[0]["message"] == after.errors[0]["message"]
    assert replayed.data is None
    family = first["refreshToken"].split(".")[0]
    [record] = [r for r in caplog.records if "refresh token reuse" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert family in record.getMessage()
    assert first["refreshToken"] not in caplog.text  # the secret never reaches the log


@pytest.mark.parametrize(
    # (NUL is refused before any resolver: see test_graphql_limits.py.)
    "token",
    ["", "garbage", "id-9999.secret", "x" * 600, "y" * 64 + ".s"],
)
async def test_every_refused_refresh_gets_one_generic_answer(api: Api, token: str) -> None:
    await api.register(EMAIL)
    await login(api)

    result = await api.execute(REFRESH, {"token": token})

    assert result.codes == ["UNAUTHENTICATED"]
    assert result.errors[0]["message"] == "invalid or expired refresh token; log in again"


async def test_logout_ends_the_session_and_answers_the_same_for_any_token(api: Api) -> None:
    await api.register(EMAIL)
    session = await login(api)

    answers = [
        await api.ok(LOGOUT, {"token": token})
        for token in (session["refreshToken"], session["refreshToken"], "unknown.token", "")
    ]
    refused = await api.execute(REFRESH, {"token": session["refreshToken"]})

    assert answers == [{"logout": {"loggedOut": True}}] * 4
    assert refused.codes == ["UNAUTHENTICATED"]


async def test_changing_ones_own_password_returns_a_new_session_and_ends_the_others(
    api: Api,
) -> None:
    user_id = await api.register(EMAIL)
    first, second = await login(api), await login(api)

    changed = await api.ok(
        CHANGE_PASSWORD,
        {"current": PASSWORD, "new": "battery staple horse"},
        token=first["accessToken"],
    )

    fresh = changed["changePassword"]["session"]
    assert set(fresh) == set(SESSION.split())
    assert api.tokens.claims(fresh["accessToken"]).token_version == 1  # type: ignore[union-attr]
    assert api.tokens.claims(fresh["accessToken"]).user_id == user_id  # type: ignore[union-attr]
    for old in (first, second):
        result = await api.execute(REFRESH, {"token": old["refreshToken"]})
        assert result.codes == ["UNAUTHENTICATED"]
    assert (await api.ok(REFRESH, {"token": fresh["refreshToken"]}))["refresh"]


async def test_an_idle_session_expires_per_the_injected_policy(database_url: str) -> None:
    policy = SessionPolicy(idle_limit=timedelta(minutes=5), absolute_lifetime=timedelta(hours=1))
    async with running_api(database_url, session_policy=policy) as api:
        await api.register(EMAIL)
        session = await login(api)
        api.clock.advance(timedelta(minutes=4))
        renewed = (await api.ok(REFRESH, {"token": session["refreshToken"]}))["refresh"]
        api.clock.advance(timedelta(minutes=5, seconds=1))

        idle = await api.execute(REFRESH, {"token": renewed["refreshToken"]})

        assert idle.codes == ["UNAUTHENTICATED"]
