"""Login throttling end to end: a real server (two uvicorn workers) with small, fast limits.

Limits for this module: 2 free failures per account, delays 1 s then 2 s (the
cap), counters forgotten 5 s after the block ends (long enough that a login
slowed by a busy machine still falls inside the window). The address limit
is raised out of the way: every test here logs in from 127.0.0.1.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.server import RunningServer, run_server

PASSWORD = "correct horse battery"
SETTINGS = {
    "KINGDOM_TOKEN_SIGNING_KEY": "e2e-throttling-key-0123456789abcdefghijklmnop",
    "KINGDOM_WORKERS": "2",  # the counters live in the database, shared by both
    "KINGDOM_LOGIN_ACCOUNT_FREE_FAILURES": "2",
    "KINGDOM_LOGIN_ADDRESS_FREE_FAILURES": "100000",
    "KINGDOM_LOGIN_MAX_DELAY_SECONDS": "2",
    "KINGDOM_LOGIN_QUIET_SECONDS": "5",
}


def aliased_logins(count: int) -> str:
    fields = " ".join(
        f"a{n}: login(input: {{email: $email, password: $password}}) {{ accessToken }}"
        for n in range(count)
    )
    return f"mutation($email: String!, $password: String!) {{ {fields} }}"


@pytest.fixture(scope="module")
def server(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    with run_server(data_dir, {**SETTINGS, **backend}) as running:
        yield running


def login(http: httpx.Client, email: str, password: str, aliases: int = 1) -> dict[str, Any]:
    response = http.post(
        "/graphql",
        json={
            "query": aliased_logins(aliases),
            "variables": {"email": email, "password": password},
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


def register(http: httpx.Client) -> str:
    email = f"user-{uuid.uuid4().hex[:8]}@example.org"
    response = http.post(
        "/graphql",
        json={
            "query": "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }",
            "variables": {"i": {"email": email, "displayName": "Someone", "password": PASSWORD}},
        },
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return email


def fail_until_blocked(http: httpx.Client, email: str) -> None:
    """Spend the two free failures and the first blocking one (1 s)."""
    for _ in range(3):
        assert codes(login(http, email, "wrong guess", aliases=5)) == ["UNAUTHENTICATED"]


def test_aliased_logins_are_separate_attempts(http: httpx.Client) -> None:
    email = register(http)

    body = login(http, email, PASSWORD, aliases=4)

    assert "errors" not in body, body
    assert len({body["data"][f"a{n}"]["accessToken"] for n in range(4)}) == 4


def test_aliases_trip_the_limit_and_stop_at_the_first_refusal(http: httpx.Client) -> None:
    email = register(http)

    # Each document of five aliased guesses runs only its first: `login` is
    # non-null, so its error ends the document. Three documents, three failures.
    fail_until_blocked(http, email)
    with_the_password = login(http, email, PASSWORD, aliases=5)
    guessing_on = login(http, email, "wrong guess", aliases=5)

    for body in (with_the_password, guessing_on):
        assert body["data"] is None
        [error] = body["errors"]
        assert error["path"] == ["a0"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] == 1


def test_the_block_expires_and_the_right_password_then_works(http: httpx.Client) -> None:
    email = register(http)
    fail_until_blocked(http, email)
    [error] = login(http, email, PASSWORD)["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"

    time.sleep(error["extensions"]["retryAfter"] + 0.1)

    assert "errors" not in login(http, email, PASSWORD)


def test_the_counter_is_forgotten_after_the_quiet_window(http: httpx.Client) -> None:
    email = register(http)
    fail_until_blocked(http, email)
    login(http, email, "wrong guess")  # may land inside the block or just after: 2 s at most

    time.sleep(2 + 5 + 0.2)  # the longest block, then the quiet window

    # Counting starts over: two free failures again before any block.
    for _ in range(2):
        assert codes(login(http, email, "wrong guess")) == ["UNAUTHENTICATED"]
    assert codes(login(http, email, "wrong guess")) == ["UNAUTHENTICATED"]  # blocks now
    assert codes(login(http, email, PASSWORD)) == ["RATE_LIMITED"]


def test_an_unregistered_email_is_throttled_like_a_registered_one(http: httpx.Client) -> None:
    registered = register(http)
    unregistered = f"nobody-{uuid.uuid4().hex[:8]}@example.org"

    def answers(email: str) -> list[list[str]]:
        return [codes(login(http, email, "wrong guess")) for _ in range(5)]

    assert answers(registered) == answers(unregistered)
