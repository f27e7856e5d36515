"""Reset codes by SMTP, end to end: a real server whose in-process workers mail a real SMTP server.

The mail server (aiosmtpd) listens on 127.0.0.1 in this test's process;
``KINGDOM_SMTP_URL`` points the server at it. The request answers first, the
server's relay hands the event to its in-process workers, and they deliver
the mail; the code from that mail resets the password. The registration's
welcome arrives the same way. On SQLite and Postgres.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from pathlib import Path

import httpx

from e2e.client import GraphQLClient
from e2e.server import run_server
from e2e.test_event_path import wait_for
from integration.workers.test_mail_smtp import Collector, free_port, mail_server
from kingdom.services.identity.password_reset import RESET_SUBJECT
from kingdom.services.identity.registration import WELCOME_SUBJECT

PASSWORD, NEW_PASSWORD = "correct horse battery", "a brand new long secret"
REGISTER = "mutation($i: RegisterUserInput!) { registerUser(input: $i) { userId } }"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(input: {email: $e}) { accepted } }"
RESET = """
mutation($t: String!, $p: String!) {
  resetPassword(input: {token: $t, newPassword: $p}) { passwordChanged }
}
"""


def mails(collector: Collector, to: str, subject: str) -> list[EmailMessage]:
    """The mails to ``to`` with ``subject`` (others arrive too: the administrator's welcome)."""
    return [m for m in collector.messages if (m["To"], m["Subject"]) == (to, subject)]


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

        asked = http.post(
            "/graphql",
            json={"query": REQUEST_RESET, "variables": {"e": email}},
            headers={"X-Request-ID": f"reset-{port}"},
        )
        assert asked.json() == {"data": {"requestPasswordReset": {"accepted": True}}}
        wait_for(
            "the reset and welcome mails delivered",
            lambda: sorted(
                subject
                for subject in (RESET_SUBJECT, WELCOME_SUBJECT)
                if mails(collector, email, subject)
            ),
            sorted((RESET_SUBJECT, WELCOME_SUBJECT)),
        )

        [welcome] = mails(collector, email, WELCOME_SUBJECT)
        assert PASSWORD not in welcome.as_string()
        [message] = mails(collector, email, RESET_SUBJECT)
        assert (message["To"], message["From"]) == (email, "Kingdom <kingdom@example.org>")
        assert message["X-Request-ID"] == f"reset-{port}"  # the request that asked for it
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
