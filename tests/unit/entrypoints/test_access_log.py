"""Request ids, the access log line and its JSON format, on a tiny app in process."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kingdom.entrypoints.http.access_log import AccessLog, note_operation, note_user
from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.log_format import JsonFormatter, logging_config


async def graphql_like(request: Request) -> Response:
    note_operation(request, "Viewer", "query")
    note_user(request, "user-1")
    # An inner layer's own id header must not make a second one.
    return PlainTextResponse("ok", headers={"X-Request-ID": "inner"})


async def crash(request: Request) -> Response:
    raise RuntimeError("SELECT password FROM users")


def client() -> httpx.AsyncClient:
    # As create_app places it: the outermost of the app's own middleware.
    app = Starlette(
        routes=[Route("/graphql", graphql_like, methods=["POST"]), Route("/crash", crash)],
        middleware=[Middleware(AccessLog)],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def access_records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "kingdom.access"]  # type: ignore[attr-defined]


async def test_every_response_gets_an_id_and_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    async with client() as http:
        with caplog.at_level(logging.INFO, logger="kingdom.access"):
            ok = await http.post("/graphql?token=secret")
            missing = await http.get("/nope")
            wrong_method = await http.get("/graphql")

    ids = [r.headers.get_list("X-Request-ID") for r in (ok, missing, wrong_method)]
    assert [len(values) for values in ids] == [1, 1, 1]
    assert len({values[0] for values in ids}) == 3
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    records = access_records(caplog)
    assert [(r["method"], r["path"], r["status"]) for r in records] == [
        ("POST", "/graphql", 200),
        ("GET", "/nope", 404),
        ("GET", "/graphql", 405),
    ]
    assert records[0]["request_id"] == ok.headers["X-Request-ID"]
    assert (records[0]["operation"], records[0]["operation_type"]) == ("Viewer", "query")
    assert records[0]["user_id"] == "user-1"
    assert (records[1]["operation"], records[1]["user_id"]) == (None, None)
    assert all(r["duration_ms"] >= 0 for r in records)
    assert "secret" not in caplog.text  # the query string is not logged


@pytest.mark.parametrize(
    ("offered", "kept"),
    [
        ("req-1.A_b", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("bad id", False),
        ("<script>", False),
        ("", False),
    ],
)
async def test_a_well_formed_incoming_id_is_kept(offered: str, kept: bool) -> None:
    async with client() as http:
        response = await http.post("/graphql", headers={"X-Request-ID": offered})

    returned = response.headers["X-Request-ID"]
    assert (returned == offered) is kept
    if not kept:
        assert len(returned) == 32
        assert returned.isalnum()


async def test_a_crash_is_a_500_with_the_id_and_no_internals(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with client() as http:
        with caplog.at_level(logging.INFO):
            response = await http.get("/crash", headers={"X-Request-ID": "boom-1"})

    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "boom-1"
    assert response.json() == {
        "errors": [
            {
                "message": "Internal server error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": "boom-1"},
            }
        ]
    }
    assert "SELECT" not in response.text
    assert [r["status"] for r in access_records(caplog)] == [500]
    crash_logs = [r for r in caplog.records if r.name == "kingdom.entrypoints.http"]
    (crash_log,) = crash_logs
    assert crash_log.exc_info
    assert "boom-1" in crash_log.message


def test_log_records_are_one_line_of_json_with_their_fields() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("kingdom.access", logging.INFO, "f.py", 1, "GET %s", ("/x",), None)
    record.fields = {"request_id": "r1", "status": 200, "message": "not overridden"}
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        failing = logging.LogRecord("k", logging.ERROR, "f.py", 2, "failed", (), sys.exc_info())

    line = formatter.format(record)
    error_line = formatter.format(failing)

    assert "\n" not in line
    assert "\n" not in error_line
    event = json.loads(line)
    assert event["message"] == "GET /x"
    assert (event["logger"], event["level"], event["request_id"], event["status"]) == (
        "kingdom.access",
        "INFO",
        "r1",
        200,
    )
    assert event["time"].endswith("+00:00")
    assert "line two" in json.loads(error_line)["exception"]


def test_the_logging_config_is_accepted_and_silences_uvicorns_access_log() -> None:
    root, access = logging.getLogger(), logging.getLogger("uvicorn.access")
    saved = (root.handlers[:], root.level, access.handlers[:], access.propagate, access.level)
    try:
        logging.config.dictConfig(logging_config())  # raises if malformed
        assert access.propagate is False
        assert [type(h.formatter) for h in root.handlers] == [JsonFormatter]
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        access.handlers[:], access.propagate, access.level = saved[2], saved[3], saved[4]


async def test_the_whole_app_puts_the_id_on_jwks_and_cors_preflights() -> None:
    app = create_app(
        public_keys={"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k", "x": "AAAA"}]},
        cors_origins=("https://app.example.org",),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        jwks = await http.get("/.well-known/jwks.json")
        preflight = await http.options(
            "/graphql",
            headers={
                "Origin": "https://app.example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "X-Request-ID",
            },
        )

    assert jwks.status_code == 200
    assert jwks.headers["X-Request-ID"]
    assert preflight.status_code == 200
    assert preflight.headers["X-Request-ID"]
    assert "x-request-id" in preflight.headers["access-control-allow-headers"].lower()
