"""No account enumeration: a registered and an unknown address get byte-identical answers.

Against a real server with the login throttle raised out of reach, 200 logins
with a registered address and a wrong password alternate with 200 logins with
an unknown address, and 200 password-reset requests for each likewise. Every
answer must be the same bytes apart from request ids, with the same status and
headers.

Timing is *reported*, never asserted (a shared CI machine is too noisy for a
threshold to mean anything): the median of each side and their gap are
printed, recorded as test properties, and shown in the terminal summary.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.server import RunningServer, run_server

ATTEMPTS = 200
WARM_UP = 10
PASSWORD = "correct horse battery"
SETTINGS = {
    "KINGDOM_TOKEN_SIGNING_KEY": "e2e-enumeration-key-0123456789abcdefghijklmnop",
    # 400 attempts from one address on two accounts: nothing may be throttled,
    # or the two sides would get different answers for a reason under test elsewhere.
    "KINGDOM_LOGIN_ACCOUNT_FREE_FAILURES": "1000000",
    "KINGDOM_LOGIN_ADDRESS_FREE_FAILURES": "1000000",
}
LOGIN = """
mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken } }
"""
RESET = """
mutation($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { accepted } }
"""
_REQUEST_ID = re.compile(rb'"requestId":"[^"]*"')
_VARYING_HEADERS = {"date", "x-request-id"}


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
) -> tuple[dict[str, set[Any]], dict[str, list[float]]]:
    """Send ``query`` for each e-mail in turn, ATTEMPTS times, alternating which goes first."""
    answers: dict[str, set[Any]] = {email: set() for email in emails}
    seconds: dict[str, list[float]] = {email: [] for email in emails}
    for attempt in range(WARM_UP + ATTEMPTS):
        order = emails if attempt % 2 == 0 else emails[::-1]
        for email in order:
            started = time.perf_counter()
            response = http.post("/graphql", json={"query": query, "variables": variables(email)})
            elapsed = time.perf_counter() - started
            if attempt >= WARM_UP:
                answers[email].add(answer(response))
                seconds[email].append(elapsed)
    return answers, seconds


def report(
    record_property: Callable[[str, object], None],
    what: str,
    known: list[float],
    unknown: list[float],
) -> None:
    known_ms, unknown_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
    line = (
        f"{what}: median {known_ms:.2f} ms registered, {unknown_ms:.2f} ms unknown, "
        f"gap {known_ms - unknown_ms:+.2f} ms over {len(known)} attempts each"
    )
    print(line)
    record_property(f"measured {what}", line)


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


def test_login_answers_the_same_for_unknown_and_registered_addresses(
    http: httpx.Client, record_property: Callable[[str, object], None], backend: dict[str, str]
) -> None:
    registered, unknown = register(http), f"nobody-{uuid.uuid4().hex[:8]}@example.org"

    answers, seconds = compare(
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
    report(
        record_property,
        f"login timing [{_name(backend)}]",
        seconds[registered],
        seconds[unknown],
    )


def test_password_reset_answers_the_same_for_unknown_and_registered_addresses(
    http: httpx.Client, record_property: Callable[[str, object], None], backend: dict[str, str]
) -> None:
    registered, unknown = register(http), f"nobody-{uuid.uuid4().hex[:8]}@example.org"

    answers, seconds = compare(
        http, RESET, lambda email: {"input": {"email": email}}, [registered, unknown]
    )

    assert len(answers[registered]) == 1, answers[registered]
    assert answers[registered] == answers[unknown]
    [(status, _, body)] = answers[registered]
    assert status == 200
    assert body == b'{"data":{"requestPasswordReset":{"accepted":true}}}'
    report(
        record_property,
        f"password reset timing [{_name(backend)}]",
        seconds[registered],
        seconds[unknown],
    )


def _name(backend: dict[str, str]) -> str:
    return "postgres" if backend else "sqlite"
