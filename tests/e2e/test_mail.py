"""Reset codes by SMTP, end to end: a real server whose in-process workers mail a real SMTP server.

The mail server (aiosmtpd) listens on 127.0.0.1 in this test's process;
``KINGDOM_SMTP_URL`` points the server at it. The request answers first, the
server's relay hands the event to its in-process workers, and they deliver
the mail; the code from that mail resets the password. On SQLite and Postgres.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from e2e.client import GraphQLClient
from e2e.server import run_server
from integration.workers.test_mail_smtp import Collector, free_port, mail_server

PASSWORD, NEW_PASSWORD = "correct horse battery", "a brand new long secret"
REGISTER = "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(input: {email: $e}) { accepted } }"
RESET = """
mutation($t: String!, $p: String!) {
  resetPassword(input: {token: $t, newPassword: $p}) { passwordChanged }
}
"""


def test_the_reset_code_arrives_by_smtp(tmp_path: Path, backend: dict[str, str]) -> None:
    collector, port = Collector(), free_port()
    environ = {
        **backend,
        "KINGDOM_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "KINGDOM_MAIL_FROM": "Kingdom <kingdom@example.org>",
    }
    email = f"mail-{port}@example.org"  # the Postgres database is shared by the module
    with (
        mail_server(collector, port),
        run_server(tmp_path, environ) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        api = GraphQLClient(http)
        api.ok(REGISTER, {"i": {"email": email, "displayName": "Ann", "password": PASSWORD}})

        assert api.ok(REQUEST_RESET, {"e": email}) == {"requestPasswordReset": {"accepted": True}}
        deadline = time.monotonic() + 30
        while not collector.messages and time.monotonic() < deadline:
            time.sleep(0.05)

        [message] = collector.messages
        assert (message["To"], message["From"]) == (email, "Kingdom <kingdom@example.org>")
        body = message.get_body()
        assert body is not None
        found = re.search(r"Your reset code: (\S+)", body.get_content())
        assert found is not None
        code = found.group(1)
        assert api.ok(RESET, {"t": code, "p": NEW_PASSWORD}) == {
            "resetPassword": {"passwordChanged": True}
        }
        assert api.ok(LOGIN, {"i": {"email": email, "password": NEW_PASSWORD}})
        output = server.stop()

    assert f"mail: sent to smtp://127.0.0.1:{port}" in output
    assert code not in output  # not in the start-up lines, nor in any log line
    assert not (tmp_path / "mail").exists()  # no .eml fallback
