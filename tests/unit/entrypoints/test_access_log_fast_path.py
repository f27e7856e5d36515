"""The server's access line written straight to a stream, and /graphql past the router."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from kingdom.entrypoints.http.access_log import (
    BATCH_BYTES,
    JsonLineSink,
    log_record,
    note_operation,
)
from kingdom.entrypoints.http.app import create_app
from kingdom.entrypoints.log_format import JsonFormatter, event, timestamp

ORIGIN = "https://app.example.org"


class GraphQLStandIn:
    """An ASGI app at /graphql: answers every method, names the operation, may crash."""

    def __init__(self) -> None:
        self.methods: list[str] = []
        self.routed: list[bool] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        self.methods.append(request.method)
        self.routed.append("router" in scope)  # Starlette's router marks the scope
        body = await request.body()
        if body == b"crash":
            raise RuntimeError("SELECT secret FROM users")
        note_operation(request, "Viewer", "query")
        await JSONResponse({"data": {"ok": True}})(scope, receive, send)


@pytest.fixture()
def _access_level() -> Iterator[None]:
    access = logging.getLogger("kingdom.access")
    saved = access.level
    access.setLevel(logging.INFO)
    yield
    access.setLevel(saved)


def lines(stream: io.BytesIO) -> list[dict[str, Any]]:
    raw = stream.getvalue()
    assert raw.endswith(b"\n") or not raw
    return [json.loads(line) for line in raw.splitlines()]


@pytest.mark.usefixtures("_access_level")
async def test_the_stream_sink_writes_the_formatters_line_once_per_request() -> None:
    stream = io.BytesIO()
    graphql = GraphQLStandIn()
    app = create_app(graphql, cors_origins=(ORIGIN,), access_sink=JsonLineSink(stream))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        posted = await http.post(
            "/graphql?token=secret", content=b"{}", headers={"X-Request-ID": "fast-1"}
        )
        missing = await http.post("/nowhere", content=b"{}")
        explorer = await http.get("/graphql")
    await asyncio.sleep(0)  # lines are written once per turn of the loop

    assert (posted.status_code, missing.status_code, explorer.status_code) == (200, 404, 200)
    assert posted.headers.get_list("X-Request-ID") == ["fast-1"]
    assert graphql.methods == ["POST", "GET"]
    # The front door hands every /graphql request to the API, past Starlette's router.
    assert graphql.routed == [False, False]
    first, second, third = lines(stream)
    assert first["request_id"] == "fast-1"
    assert [(e["method"], e["path"], e["status"]) for e in (first, second, third)] == [
        ("POST", "/graphql", 200),
        ("POST", "/nowhere", 404),
        ("GET", "/graphql", 200),
    ]
    assert b"secret" not in stream.getvalue()
    # Field for field (time aside) what logging and the JSON formatter write.
    record = logging.LogRecord("kingdom.access", logging.INFO, "f.py", 1, "", (), None)
    fields = {key: first[key] for key in list(first)[4:]}
    record.msg, record.fields = first["message"], fields
    formatted = json.loads(JsonFormatter().format(record))
    assert first["message"] == "POST /graphql 200"
    assert {**first, "time": None} == {**formatted, "time": None}
    assert list(first) == list(formatted)
    assert datetime.fromisoformat(first["time"]).tzinfo == UTC


async def test_the_stream_sink_follows_the_access_loggers_level() -> None:
    access = logging.getLogger("kingdom.access")
    saved = access.level
    stream = io.BytesIO()
    access.setLevel(logging.WARNING)
    try:
        app = create_app(GraphQLStandIn(), access_sink=JsonLineSink(stream))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as http:
            response = await http.post("/graphql", content=b"{}")
    finally:
        access.setLevel(saved)

    assert response.status_code == 200
    assert stream.getvalue() == b""


async def test_a_post_to_graphql_still_gets_cors_headers_and_a_500_on_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(GraphQLStandIn(), cors_origins=(ORIGIN,), access_sink=log_record)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        with caplog.at_level(logging.INFO):
            allowed = await http.post("/graphql", content=b"{}", headers={"Origin": ORIGIN})
            foreign = await http.post(
                "/graphql", content=b"{}", headers={"Origin": "https://evil.example"}
            )
            crashed = await http.post(
                "/graphql", content=b"crash", headers={"X-Request-ID": "crash-1"}
            )

    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers
    assert crashed.status_code == 500
    assert crashed.headers["X-Request-ID"] == "crash-1"
    assert crashed.json()["errors"][0]["extensions"]["requestId"] == "crash-1"
    assert "SELECT" not in crashed.text
    statuses = [r.fields["status"] for r in caplog.records if r.name == "kingdom.access"]  # type: ignore[attr-defined]
    assert statuses == [200, 200, 500]


@pytest.mark.parametrize(
    "created",
    [0.0, 0.0005, 0.9994999, 0.9995, 1.9999996, 1_764_000_000.123456, 1_762_326_015.3729994],
)
def test_timestamps_are_what_datetime_would_write(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert timestamp(created) == expected


class CountingStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []

    def write(self, data: Any) -> int:
        self.writes.append(bytes(data))
        return super().write(data)


@pytest.mark.usefixtures("_access_level")
async def test_lines_ended_in_one_turn_of_the_loop_are_one_write_of_at_most_pipe_buf() -> None:
    stream = CountingStream()
    sink = JsonLineSink(stream)
    fields = {"method": "POST", "path": "/graphql", "status": 200, "request_id": "r"}
    for _ in range(3):
        sink(fields)
    assert stream.writes == []  # not yet: the loop has not turned
    await asyncio.sleep(0)
    assert len(stream.writes) == 1
    assert len(lines(stream)) == 3

    many = 3 * BATCH_BYTES // len(stream.writes[0]) + 3
    for _ in range(many):
        sink(fields)
    await asyncio.sleep(0)
    assert len(lines(stream)) == 3 + many
    # Whole lines only, never more than a pipe writes atomically.
    assert all(write.endswith(b"\n") and len(write) <= BATCH_BYTES for write in stream.writes)
    assert len(stream.writes) > 2


@pytest.mark.usefixtures("_access_level")
def test_outside_an_event_loop_each_line_is_written_at_once() -> None:
    stream = CountingStream()
    JsonLineSink(stream)({"method": "GET", "path": "/healthz", "status": 200})
    assert [line["path"] for line in lines(stream)] == ["/healthz"]


def test_fields_never_overwrite_a_lines_standard_keys() -> None:
    line = event(
        0.0,
        "INFO",
        "kingdom.access",
        "POST /graphql 200",
        {"message": "forged", "level": "x", "user_id": "u"},
    )

    assert line == {
        "time": "1970-01-01T00:00:00.000+00:00",
        "level": "INFO",
        "logger": "kingdom.access",
        "message": "POST /graphql 200",
        "user_id": "u",
    }
