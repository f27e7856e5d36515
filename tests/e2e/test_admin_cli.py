"""The admin command line as a real process, next to a running server on the embedded SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from e2e.client import GraphQLClient
from e2e.server import run_server

FIRST_PASSWORD = "first admin password"
NEW_PASSWORD = "recovered admin password"
ADMIN = "admin@kingdom.local"
LOGIN = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"


def admin_cli(data_dir: Path, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m kingdom.entrypoints.admin_cli ARGV`` with the server's environment."""
    env = {
        "KINGDOM_DATA_DIR": str(data_dir),
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
    }
    return subprocess.run(
        [sys.executable, "-m", "kingdom.entrypoints.admin_cli", *argv],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_set_password_recovers_the_admin_of_a_running_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with run_server(data_dir, {"KINGDOM_ADMIN_PASSWORD": FIRST_PASSWORD}) as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            api = GraphQLClient(http)
            old_token = api.ok(LOGIN, {"i": {"email": ADMIN, "password": FIRST_PASSWORD}})
            old_token = old_token["login"]["accessToken"]

            recovered = admin_cli(
                data_dir, "set-password", ADMIN, "--password-stdin", stdin=NEW_PASSWORD + "\n"
            )

            assert (recovered.returncode, recovered.stdout) == (0, ""), recovered.stderr
            assert f"set the password of {ADMIN}" in recovered.stderr
            login = api.ok(LOGIN, {"i": {"email": ADMIN, "password": NEW_PASSWORD}})
            token = login["login"]["accessToken"]
            assert api.ok("{ viewer { email } }", token=token) == {"viewer": {"email": ADMIN}}
            old_login = api.execute(LOGIN, {"i": {"email": ADMIN, "password": FIRST_PASSWORD}})
            assert old_login.codes == ["UNAUTHENTICATED"]
            assert api.execute("{ viewer { email } }", token=old_token).codes == ["UNAUTHENTICATED"]

            listed = admin_cli(data_dir, "list-users")
            assert listed.returncode == 0, listed.stderr
            assert listed.stdout.splitlines()[1].split()[1:] == [ADMIN, "active", "admin"]

        unknown = admin_cli(data_dir, "set-password", "nobody@example.org")
        usage = admin_cli(data_dir, "grant-role", ADMIN)
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "kingdom admin: no user with e-mail nobody@example.org\n"
    assert (usage.returncode, usage.stdout) == (2, "")
    assert usage.stderr.startswith("kingdom admin: grant-role: the following arguments")
    assert usage.stderr.count("\n") == 1

    # A later start with KINGDOM_ADMIN_PASSWORD says it is ignored and what to do instead.
    with run_server(data_dir, {"KINGDOM_ADMIN_PASSWORD": "yet another password"}) as server:
        output = server.stop()
    assert (
        "KINGDOM_ADMIN_PASSWORD is ignored: users exist; use "
        "`./pants run packages/entrypoints:admin -- set-password admin@kingdom.local`"
    ) in output


def test_a_data_dir_without_a_database_is_refused(tmp_path: Path) -> None:
    ran = admin_cli(tmp_path / "typo", "set-password", ADMIN)

    assert (ran.returncode, ran.stdout) == (1, "")
    assert ran.stderr.startswith("kingdom admin: no database at ")
    assert "Traceback" not in ran.stderr
    assert not (tmp_path / "typo").exists()
