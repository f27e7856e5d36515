"""A real server keeps the client's trace: in its access log line and in the audit entry its
embedded workers write for the mutation's event."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from e2e.server import run_server

OFFERED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REGISTER = "mutation($input: RegisterUserInput!) { registerUser(input: $input) { userId } }"
AUDITED = (
    "SELECT trace_parent FROM audit_entries WHERE event_type = 'identity.UserRegistered'"
    " AND summary LIKE '%<traced@example.org>%'"
)


def audited_trace_parents(data_dir: Path) -> list[str | None]:
    with sqlite3.connect(data_dir / "kingdom.db") as connection:
        return [row[0] for row in connection.execute(AUDITED).fetchall()]


def json_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_the_access_line_and_the_audit_entry_carry_the_clients_trace(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        response = httpx.post(
            f"{server.base_url}/graphql",
            json={
                "query": REGISTER,
                "variables": {
                    "input": {
                        "email": "traced@example.org",
                        "displayName": "Traced",
                        "password": "a long enough password",
                    }
                },
            },
            headers={"traceparent": OFFERED},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert "errors" not in response.json(), response.text
        answered = response.headers["traceparent"]

        deadline = time.monotonic() + 30
        while not audited_trace_parents(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        output = server.stop()

    assert answered[3:35] == TRACE_ID
    assert answered != OFFERED
    # The embedded workers audited the event under the request's span.
    assert audited_trace_parents(tmp_path) == [answered]
    access = [
        line
        for line in json_lines(output)
        if line.get("logger") == "kingdom.access" and line.get("path") == "/graphql"
    ]
    assert [(line["status"], line["trace_id"]) for line in access] == [(200, TRACE_ID)]
    assert "Traceback" not in output
