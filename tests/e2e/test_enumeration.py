"""No account enumeration: a registered and an unknown address get byte-identical answers.

Against a real server with the throttles raised out of reach, logins with a
registered address and a wrong password alternate with logins with an
unknown address, and password-reset requests and registrations likewise.
Every answer must be the same bytes apart from request ids (and, for a
registration, the fresh id it names), with the same status and headers.

Timing is not compared here: a test on a shared machine cannot tell a real
gap from noise. ``./pants run benchmarks:enumeration`` measures it; the unit
tests show the work behind it is the same (a dummy hash verified for an
unknown login, the same pacing for reset requests and registrations).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.server import RunningServer, run_server

ATTEMPTS = 3
PASSWORD = "correct horse battery"
SETTINGS = {
    "KINGDOM_TOKEN_SIGNING_KEY": "e2e-enumeration-key-0123456789abcdefghijklmnop",
    # 400 attempts from one address on two accounts: nothing may be throttled,
    # or the two sides would get different answers for a reason under test elsewhere.
    "KINGDOM_LOGIN_ACCOUNT_FREE_FAILURES": "1000000",
    "KINGDOM_LOGIN_ADDRESS_FREE_FAILURES": "1000000",
    "KINGDOM_REGISTER_ADDRESS_FREE_ATTEMPTS": "1000000",
}
LOGIN = """
mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }
"""
RESET = """
mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { accepted } }
"""
_REQUEST_ID = re.compile(rb'"requestId":"[^"]*"')
_VARYING_HEADERS = {"date", "x-request-id", "traceparent"}


@pytest.fixture(scope="module")
def server(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    with run_server(data_dir, {**SETTINGS, **backend}) as running:
        yield running


def answer(response: httpx.Response) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    """Status, headers and body of a response, without what differs per request."""
    headers = tuple(
        sorted((k, v) for k, v in response.headers.items() if k not in _VARYING_HEADERS)
    )
    return response.status_code, headers, _REQUEST_ID.sub(b'"requestId":"-"', response.content)


def compare(
    http: httpx.Client, query: str, variables: Callable[[str], dict[str, Any]], emails: list[str]
) -> dict[str, set[Any]]:
    """Send ``query`` for each e-mail in turn, ATTEMPTS times, alternating which goes first."""
    answers: dict[str, set[Any]] = {email: set() for email in emails}
    for attempt in range(ATTEMPTS):
        order = emails if attempt % 2 == 0 else emails[::-1]
        for email in order:
            response = http.post("/graphql", json={"query": query, "variables": variables(email)})
            answers[email].add(answer(response))
    return answers


def register(http: httpx.Client) -> str:
    email = f"ann-{uuid.uuid4().hex[:8]}@example.org"
    response = http.post(
        "/graphql",
        json={
            "query": "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }",
            "variables": {"i": {"email": email, "displayName": "Ann", "password": PASSWORD}},
        },
    )
    assert response.status_code == 200, response.text
    assert "errors" not in response.json(), response.text
    return email


def test_login_answers_the_same_for_unknown_and_registered_addresses(http: httpx.Client) -> None:
    registered, unknown = register(http), f"nobody-{uuid.uuid4().hex[:8]}@example.org"

    answers = compare(
        http,
        LOGIN,
        lambda email: {"input": {"email": email, "password": "wrong password"}},
        [registered, unknown],
    )

    assert len(answers[registered]) == 1, answers[registered]
    assert answers[registered] == answers[unknown]
    [(status, _, body)] = answers[registered]
    assert status == 200
    assert b'"UNAUTHENTICATED"' in body


def test_password_reset_answers_the_same_for_unknown_and_registered_addresses(
    http: httpx.Client,
) -> None:
    registered, unknown = register(http), f"nobody-{uuid.uuid4().hex[:8]}@example.org"

    answers = compare(http, RESET, lambda email: {"input": {"email": email}}, [registered, unknown])

    assert len(answers[registered]) == 1, answers[registered]
    assert answers[registered] == answers[unknown]
    [(status, _, body)] = answers[registered]
    assert status == 200
    assert body == b'{"data":{"requestPasswordReset":{"accepted":true}}}'


_USER_ID = re.compile(rb'"userId":"[^"]*"')


def test_registration_answers_the_same_for_taken_and_new_addresses(http: httpx.Client) -> None:
    taken = register(http)
    new = iter(f"new-{uuid.uuid4().hex[:8]}-{n}@example.org" for n in range(ATTEMPTS))
    query = "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }"

    answers = {
        kind: {
            (status, headers, _USER_ID.sub(b'"userId":"-"', body))
            for status, headers, body in (
                answer(
                    http.post(
                        "/graphql",
                        json={
                            "query": query,
                            "variables": {
                                "i": {"email": email, "displayName": "Ann", "password": PASSWORD}
                            },
                        },
                    )
                )
                for email in emails
            )
        }
        for kind, emails in {"taken": [taken] * ATTEMPTS, "new": list(new)}.items()
    }

    assert len(answers["taken"]) == 1, answers
    assert answers["taken"] == answers["new"]
    [(status, _, body)] = answers["taken"]
    assert (status, body) == (200, b'{"data":{"registerUser":{"userId":"-"}}}')
