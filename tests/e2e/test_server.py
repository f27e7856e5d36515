import signal
import subprocess
import sys

import httpx

from e2e.server import run_server


def test_health_live_answers_200_with_json() -> None:
    with run_server() as server:
        response = httpx.get(f"{server.base_url}/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"status": "ok"}


def test_unknown_route_is_404() -> None:
    with run_server() as server:
        assert httpx.get(f"{server.base_url}/nope").status_code == 404


def test_ctrl_c_stops_the_server_cleanly() -> None:
    with run_server() as server:
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=30) == 0
        output = server.process.stdout.read().decode() if server.process.stdout else ""
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
