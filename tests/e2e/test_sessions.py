"""Sessions end to end: a real server (two uvicorn workers), on SQLite and on Postgres.

Refresh rotation and reuse detection, ten concurrent refreshes of one token,
logout, revocation on a password change and on a reset, and the reset code's
lifecycle (read from the ``.eml`` file the server's in-process workers write
into its data dir, moments after the request answered).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.client import GraphQLClient, Result
from e2e.server import RunningServer, run_server
from kingdom.services.identity.password_reset import RESET_SUBJECT

PASSWORD, NEW_PASSWORD = "correct horse battery", "a brand new long secret"
SETTINGS = {
    "KINGDOM_TOKEN_SIGNING_KEY": "e2e-sessions-key-0123456789abcdefghijklmnopqr",
    "KINGDOM_WORKERS": "2",  # concurrent refreshes may land in different processes
}
SESSION = "accessToken tokenType expiresAt refreshToken refreshExpiresAt"
REGISTER = "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }"
LOGIN = f"mutation($i: LoginInput!) {{ login(input: $i) {{ {SESSION} }} }}"
REFRESH = f"mutation($t: String!) {{ refresh(input: {{refreshToken: $t}}) {{ {SESSION} }} }}"
LOGOUT = "mutation($t: String!) { logout(input: {refreshToken: $t}) { loggedOut } }"
CHANGE_PASSWORD = f"""
mutation($i: ChangePasswordInput!) {{ changePassword(input: $i) {{ userId session {{ {SESSION} }} }} }}
"""
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(input: {email: $e}) { accepted } }"
RESET = """
mutation($t: String!, $p: String!) {
  resetPassword(input: {token: $t, newPassword: $p}) { passwordChanged }
}
"""
VIEWER = "{ viewer { email } }"


@dataclass
class Server:
    running: RunningServer
    data_dir: Path


@dataclass
class Client(GraphQLClient):
    data_dir: Path
    other_data_dirs: tuple[Path, ...] = ()
    """Of other servers on the same database: their relays and workers may send the mail."""

    def register(self) -> str:
        email = f"session-{uuid.uuid4().hex[:8]}@example.org"
        user = {"email": email, "displayName": "Someone", "password": PASSWORD}
        self.ok(REGISTER, {"i": user})
        return email

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        session: dict[str, Any] = self.ok(LOGIN, {"i": {"email": email, "password": password}})[
            "login"
        ]
        return session

    def refresh(self, refresh_token: str) -> Result:
        return self.execute(REFRESH, {"t": refresh_token})

    def viewer(self, access_token: str) -> Result:
        return self.execute(VIEWER, token=access_token)

    def reset_code(self, email: str) -> str:
        """Ask for a reset and read the code from the mail the server wrote for ``email``."""
        assert self.ok(REQUEST_RESET, {"e": email}) == {"requestPasswordReset": {"accepted": True}}
        # The workers mail it after the answer: wait for it.
        deadline = time.monotonic() + 30
        while not (mails := self._resets_to(email)) and time.monotonic() < deadline:
            time.sleep(0.05)
        [mail] = mails
        body = BytesParser(policy=policy.default).parsebytes(mail.read_bytes()).get_body()
        assert body is not None
        found = re.search(r"Your reset code: (\S+)", body.get_content())
        assert found is not None, body.get_content()
        return found.group(1)

    def _resets_to(self, email: str) -> list[Path]:
        # ``*.eml`` only: a file is renamed to it once written whole. Not the welcome.
        folders = [directory / "mail" for directory in (self.data_dir, *self.other_data_dirs)]
        return [
            m
            for folder in folders
            for m in folder.glob("*.eml")
            if _headers(m) == (email, RESET_SUBJECT)
        ]


def _headers(mail: Path) -> tuple[str, str]:
    message = BytesParser(policy=policy.default).parsebytes(mail.read_bytes())
    return str(message["To"]), str(message["Subject"])


@contextmanager
def _server(
    tmp_path_factory: pytest.TempPathFactory, environ: Mapping[str, str]
) -> Iterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    with run_server(data_dir, environ) as running:
        yield Server(running, data_dir)


@pytest.fixture(scope="module")
def server(backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with _server(tmp_path_factory, {**SETTINGS, **backend}) as running:
        yield running


@pytest.fixture()
def api(server: Server) -> Iterator[Client]:
    with httpx.Client(base_url=server.running.base_url, timeout=30) as http:
        yield Client(http, server.data_dir)


def test_a_refresh_rotates_and_a_replayed_token_ends_the_family(
    api: Client, server: Server
) -> None:
    email = api.register()
    first = api.login(email)

    second = api.refresh(first["refreshToken"])
    replayed = api.refresh(first["refreshToken"])
    after = api.refresh(second.data["refresh"]["refreshToken"])

    assert not second.codes, second.body
    renewed = second.data["refresh"]
    assert renewed["refreshToken"] != first["refreshToken"]
    assert renewed["refreshExpiresAt"] == first["refreshExpiresAt"]
    assert api.viewer(renewed["accessToken"]).data == {"viewer": {"email": email}}
    assert replayed.codes == after.codes == ["UNAUTHENTICATED"]
    assert replayed.data is None
    family = first["refreshToken"].split(".")[0]
    deadline = time.monotonic() + 5  # the log line crosses a pipe
    while family not in server.running.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = [row for row in server.running.output().splitlines() if family in row]
    assert "refresh token reuse" in line
    assert "WARNING" in line.upper()
    assert first["refreshToken"].split(".")[1] not in server.running.output()


async def test_of_ten_concurrent_refreshes_with_one_token_exactly_one_succeeds(
    api: Client, server: Server
) -> None:
    session = api.login(api.register())

    async with httpx.AsyncClient(base_url=server.running.base_url, timeout=30) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    "/graphql", json={"query": REFRESH, "variables": {"t": session["refreshToken"]}}
                )
                for _ in range(10)
            )
        )

    bodies = [response.json() for response in responses]
    winners = [body["data"]["refresh"] for body in bodies if not body.get("errors")]
    refused = [
        [error["extensions"]["code"] for error in body["errors"]]
        for body in bodies
        if body.get("errors")
    ]
    assert len(winners) == 1, bodies
    assert refused == [["UNAUTHENTICATED"]] * 9, bodies
    # The family is dead: the winner's new token is refused too.
    assert api.refresh(winners[0]["refreshToken"]).codes == ["UNAUTHENTICATED"]


def test_logout_ends_the_session_and_answers_the_same_for_any_token(api: Client) -> None:
    session = api.login(api.register())

    answers = [
        api.ok(LOGOUT, {"t": token})
        for token in (session["refreshToken"], session["refreshToken"], "no.such-token", "")
    ]

    assert answers == [{"logout": {"loggedOut": True}}] * 4
    assert api.refresh(session["refreshToken"]).codes == ["UNAUTHENTICATED"]


def test_a_password_change_ends_every_session_but_the_new_one(api: Client) -> None:
    email = api.register()
    here, elsewhere = api.login(email), api.login(email)

    changed = api.ok(
        CHANGE_PASSWORD,
        {"i": {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}},
        token=here["accessToken"],
    )["changePassword"]

    fresh = changed["session"]
    for old in (here, elsewhere):
        stale = api.viewer(old["accessToken"])
        assert (stale.status, stale.codes) == (401, ["UNAUTHENTICATED"])
        assert api.refresh(old["refreshToken"]).codes == ["UNAUTHENTICATED"]
    assert api.viewer(fresh["accessToken"]).data == {"viewer": {"email": email}}
    renewed = api.refresh(fresh["refreshToken"])
    assert not renewed.codes, renewed.body
    assert api.viewer(renewed.data["refresh"]["accessToken"]).data == {"viewer": {"email": email}}
    assert api.login(email, NEW_PASSWORD)


def test_a_reset_ends_every_session_and_its_code_works_once(api: Client) -> None:
    email = api.register()
    session = api.login(email)
    code = api.reset_code(email)

    reset = api.ok(RESET, {"t": code, "p": NEW_PASSWORD})
    again = api.execute(RESET, {"t": code, "p": "yet another long secret"})

    assert reset == {"resetPassword": {"passwordChanged": True}}
    assert again.codes == ["BAD_USER_INPUT"]
    stale = api.viewer(session["accessToken"])
    assert (stale.status, stale.codes) == (401, ["UNAUTHENTICATED"])
    assert api.refresh(session["refreshToken"]).codes == ["UNAUTHENTICATED"]
    assert api.login(email, NEW_PASSWORD)
    refused = api.execute(LOGIN, {"i": {"email": email, "password": PASSWORD}})
    assert refused.codes == ["UNAUTHENTICATED"]


def test_an_expired_reset_code_fails(
    backend: dict[str, str], tmp_path_factory: pytest.TempPathFactory, server: Server
) -> None:
    """A server whose reset codes live one second (the shortest the setting allows).

    On Postgres it shares the database with the module's ``server``, whose
    relays may deliver the event first: its workers then write the mail.
    """
    environ = {**SETTINGS, "KINGDOM_WORKERS": "1", "KINGDOM_RESET_TOKEN_TTL_SECONDS": "1"}
    with (
        _server(tmp_path_factory, {**environ, **backend}) as short_lived,
        httpx.Client(base_url=short_lived.running.base_url, timeout=30) as http,
    ):
        api = Client(http, short_lived.data_dir, (server.data_dir,))
        email = api.register()
        code = api.reset_code(email)

        time.sleep(1.2)
        expired = api.execute(RESET, {"t": code, "p": NEW_PASSWORD})

        # Never used before: its age alone is why it is refused.
        assert expired.codes == ["BAD_USER_INPUT"]
        assert api.login(email, PASSWORD)  # the password is unchanged
