"""Login throttling over GraphQL: RATE_LIMITED with retryAfter, and no batching around it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from integration.entrypoints.support import PASSWORD, Api, failures
from kingdom.services.ports import account_key, address_key

CLIENT = "127.0.0.1"
"""httpx's in-process transport reports this client address."""


def aliased_logins(count: int) -> str:
    """One document logging in ``count`` times (aliases ``a0``, ``a1``...), with one input."""
    fields = " ".join(
        f"a{n}: login(input: {{email: $email, password: $password}}) {{ accessToken }}"
        for n in range(count)
    )
    return f"mutation($email: String!, $password: String!) {{ {fields} }}"


async def login(api: Api, email: str, password: str, count: int = 1) -> Any:
    return await api.execute(aliased_logins(count), {"email": email, "password": password})


async def test_each_aliased_login_is_an_attempt_of_its_own(api: Api) -> None:
    await api.register("ann@example.org")

    result = await login(api, "ann@example.org", PASSWORD, count=3)

    assert not result.errors, result.body
    tokens = {result.data[f"a{n}"]["accessToken"] for n in range(3)}
    assert len(tokens) == 3  # three commands through the handler, three sessions


async def test_a_refused_login_ends_the_document_so_aliases_cannot_batch_guesses(
    api: Api,
) -> None:
    # `login` is non-null: its error nulls the whole mutation result, and
    # GraphQL runs no further top-level mutation field after that.
    await api.register("ann@example.org")

    result = await login(api, "ann@example.org", "guess", count=10)

    assert result.data is None
    assert [(error["path"], error["extensions"]["code"]) for error in result.errors] == [
        (["a0"], "UNAUTHENTICATED")
    ]
    assert await failures(api, account_key("ann@example.org")) == 1
    assert await failures(api, address_key(CLIENT)) == 1


async def test_too_many_failures_are_rate_limited_with_retry_after(api: Api) -> None:
    await api.register("ann@example.org")
    for _ in range(6):  # five free failures; the sixth blocks for 1 s
        refused = await login(api, "ann@example.org", "guess", count=3)
        assert refused.codes == ["UNAUTHENTICATED"]

    blocked = await login(api, "ann@example.org", PASSWORD, count=3)  # the right password

    assert blocked.status == 200
    assert blocked.data is None
    [error] = blocked.errors
    assert error["path"] == ["a0"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 1}
    assert "try again in 1 s" in error["message"]
    assert await failures(api, account_key("ann@example.org")) == 6  # refusals are not failures

    api.clock.advance(timedelta(seconds=1))
    welcome = await login(api, "ann@example.org", PASSWORD)
    assert not welcome.errors, welcome.body
    assert await failures(api, account_key("ann@example.org")) == 0  # success clears the account
    assert await failures(api, address_key(CLIENT)) == 6  # but not the address


async def test_an_unregistered_email_is_throttled_exactly_like_a_registered_one(api: Api) -> None:
    await api.register("ann@example.org")

    def answers(email: str) -> Any:
        return login(api, email, "guess")

    known = [(await answers("ann@example.org")).body for _ in range(8)]
    unknown = [(await answers("nobody@example.org")).body for _ in range(8)]

    assert known == unknown
    assert [body["errors"][0]["extensions"]["code"] for body in known] == [
        *["UNAUTHENTICATED"] * 6,
        "RATE_LIMITED",
        "RATE_LIMITED",
    ]
