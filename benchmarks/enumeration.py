"""How long a registered and an unknown address take to be answered, side by side.

The e2e test ``tests/e2e/test_enumeration.py`` proves the answers are the same
bytes; whether their *timing* tells the two apart is a measurement, and a
shared machine is too noisy for a test to assert one. This prints, for login
(wrong password), password-reset request and registration, the median time of
each side over many alternating attempts against a real server, and the gap.

    ./pants run benchmarks:enumeration -- [--attempts 200] [postgresql://server/db]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from http_server import serve

PASSWORD = "correct horse battery"
SETTINGS = {
    "KINGDOM_TOKEN_SIGNING_KEY": "benchmark-enumeration-key-0123456789abcdefghij",
    # Thousands of attempts from one address: nothing may be throttled.
    "KINGDOM_LOGIN_ACCOUNT_FREE_FAILURES": "1000000",
    "KINGDOM_LOGIN_ADDRESS_FREE_FAILURES": "1000000",
    "KINGDOM_REGISTER_ADDRESS_FREE_ATTEMPTS": "1000000",
}
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
RESET = "mutation($i: RequestPasswordResetInput!) { requestPasswordReset(input: $i) { accepted } }"
REGISTER = "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }"


def timed_pairs(
    http: httpx.Client,
    query: str,
    variables: Callable[[str], dict[str, Any]],
    known: Callable[[], str],
    unknown: Callable[[], str],
    attempts: int,
) -> tuple[list[float], list[float]]:
    """``attempts`` requests for each side, alternating which goes first."""
    seconds: dict[bool, list[float]] = {True: [], False: []}
    for attempt in range(attempts + 10):
        for is_known in (True, False) if attempt % 2 == 0 else (False, True):
            email = known() if is_known else unknown()
            started = time.perf_counter()
            response = http.post("/graphql", json={"query": query, "variables": variables(email)})
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if attempt >= 10:  # the first ten warm the server up
                seconds[is_known].append(elapsed)
    return seconds[True], seconds[False]


def fresh() -> str:
    return f"nobody-{uuid.uuid4().hex[:12]}@example.org"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("database_url", nargs="?", default="")
    options = parser.parse_args()
    env = dict(SETTINGS)
    if options.database_url:
        env["KINGDOM_DATABASE_URL"] = options.database_url
    data_dir = tempfile.mkdtemp(prefix="kingdom-enumeration-")
    env["KINGDOM_DATA_DIR"] = data_dir
    with serve("kingdom.entrypoints.server", env, 1, Path(data_dir) / "server.log") as server:
        report(f"http://127.0.0.1:{server.port}", options.attempts)


def report(base_url: str, attempts: int) -> None:
    """Print each case's medians for a registered and unknown address, and their gap."""
    with httpx.Client(base_url=base_url, timeout=60) as http:
        registered = fresh()
        http.post(
            "/graphql",
            json={
                "query": REGISTER,
                "variables": {
                    "i": {"email": registered, "displayName": "Ann", "password": PASSWORD}
                },
            },
        ).raise_for_status()
        cases = {
            "login, wrong password": (
                LOGIN,
                lambda email: {"i": {"email": email, "password": "wrong password"}},
            ),
            "password reset request": (RESET, lambda email: {"i": {"email": email}}),
            "registration": (
                REGISTER,
                lambda email: {"i": {"email": email, "displayName": "Ann", "password": PASSWORD}},
            ),
        }
        print(f"{'case':26} {'registered':>12} {'unknown':>12} {'gap':>10}  attempts")
        for name, (query, variables) in cases.items():
            known, unknown = timed_pairs(
                http, query, variables, lambda: registered, fresh, attempts
            )
            known_ms = statistics.median(known) * 1000
            unknown_ms = statistics.median(unknown) * 1000
            print(
                f"{name:26} {known_ms:9.2f} ms {unknown_ms:9.2f} ms"
                f" {known_ms - unknown_ms:+7.2f} ms  {len(known)}"
            )


if __name__ == "__main__":
    main()
