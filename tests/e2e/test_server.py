import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx

from e2e.server import run_server
from kingdom.adapters.migrations.runner import heads


def test_health_live_answers_200_with_json(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        response = httpx.get(f"{server.base_url}/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


def test_unknown_route_is_404(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        assert httpx.get(f"{server.base_url}/nope").status_code == 404


def test_ctrl_c_stops_the_server_cleanly(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        output = server.stop()
        assert server.process.returncode == 0
    assert "Shutting down" in output
    assert "Traceback" not in output


def test_an_invalid_setting_stops_start_up_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kingdom.entrypoints.server"],
        env={"PYTHONPATH": ":".join(p for p in sys.path if p), "KINGDOM_PORT": "http"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "KINGDOM_PORT='http'" in result.stderr


def test_the_embedded_default_migrates_an_empty_data_dir_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    database = data_dir / "kingdom.db"
    with run_server(data_dir) as server:
        first = server.stop()
    with sqlite3.connect(database) as db:
        (revision,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
    assert (revision,) == heads()
    assert f"embedded database {database.resolve()}" in first
    assert "created the administrator admin@kingdom.local" in first

    with run_server(data_dir) as server:
        second = server.stop()
    assert "created the administrator" not in second  # the data was reused
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT email FROM users").fetchall() == [("admin@kingdom.local",)]


def test_health_ready_checks_the_database(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        response = httpx.get(f"{server.base_url}/health/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_first_start_prints_a_working_admin_login(tmp_path: Path) -> None:
    with run_server(tmp_path, {"KINGDOM_ADMIN_PASSWORD": "correct horse battery"}) as server:
        login = httpx.post(
            f"{server.base_url}/graphql",
            json={
                "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
                "variables": {
                    "i": {"email": "admin@kingdom.local", "password": "correct horse battery"}
                },
            },
        ).json()
        token = login["data"]["login"]["accessToken"]
        viewer = httpx.post(
            f"{server.base_url}/graphql",
            json={"query": "{ viewer { email } }"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    assert viewer == {"data": {"viewer": {"email": "admin@kingdom.local"}}}


def test_configured_cors_origins_may_call_the_api(tmp_path: Path) -> None:
    origin = "https://app.example.org"
    with run_server(tmp_path, {"KINGDOM_CORS_ORIGINS": origin}) as server:
        allowed = httpx.options(
            f"{server.base_url}/graphql",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
        )
        refused = httpx.options(
            f"{server.base_url}/graphql",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "access-control-allow-origin" not in refused.headers


def test_several_workers_serve_the_same_api(tmp_path: Path) -> None:
    with run_server(tmp_path, {"KINGDOM_WORKERS": "2"}) as server:
        answers = [httpx.get(f"{server.base_url}/health/ready") for _ in range(20)]
        output = server.stop()
    assert {response.status_code for response in answers} == {200}
    assert output.count("Started server process") == 2
    assert "created the administrator" in output  # once, before the workers start
