"""A real server keeps the client's trace: in its access log line and in the audit entry its
embedded workers write for the mutation's event, which also names the mutation's request."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from e2e.client import access_token, register_traced
from e2e.server import run_server

ADMIN_EMAIL, ADMIN_PASSWORD = "admin@kingdom.local", "admin password for e2e traces"
OFFERED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
REGISTRATIONS = """{ auditLog(filter: {types: ["identity.UserRegistered"]}) {
  edges { node { summary traceId requestId } } } }"""
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
    with run_server(tmp_path, {"KINGDOM_ADMIN_PASSWORD": ADMIN_PASSWORD}) as server:
        response = register_traced(server.base_url, "traced@example.org", OFFERED)
        answered = response.headers["traceparent"]
        request_id = response.headers["X-Request-ID"]  # the server's own: none was offered

        deadline = time.monotonic() + 30
        while not audited_trace_parents(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.1)
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            token = access_token(http, ADMIN_EMAIL, ADMIN_PASSWORD)
            listed = http.post(
                "/graphql",
                json={"query": REGISTRATIONS},
                headers={"Authorization": f"Bearer {token}"},
            ).json()
        output = server.stop()

    assert answered[3:35] == TRACE_ID
    assert answered != OFFERED
    # The embedded workers audited the event under the request's span, and its id.
    assert audited_trace_parents(tmp_path) == [answered]
    assert "errors" not in listed, listed
    [entry] = [
        edge["node"]
        for edge in listed["data"]["auditLog"]["edges"]
        if "<traced@example.org>" in edge["node"]["summary"]
    ]
    assert (entry["traceId"], entry["requestId"]) == (TRACE_ID, request_id)
    access = [
        line
        for line in json_lines(output)
        if line.get("logger") == "kingdom.access" and line.get("path") == "/graphql"
    ]
    # The mutation's line, by its id (the login and the listing have lines of their own).
    mutation = [line for line in access if line["request_id"] == request_id]
    assert [(line["status"], line["trace_id"]) for line in mutation] == [(200, TRACE_ID)]
    assert len(access) == 3
    assert "Traceback" not in output
