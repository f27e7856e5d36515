"""A cheap HTTP/1.1 load generator: keep-alive connections replaying pre-encoded requests.

The machine has two cores and the server under test needs both, so the client
must cost as little as possible per request: each connection is an
``asyncio.Protocol`` (callbacks, no coroutine per request, uvloop when
installed) that writes the same pre-encoded bytes, parses only the status
line and ``Content-Length`` of the answer, and sends the next request as soon
as the previous answer is complete (one request in flight per connection, no
pipelining). Given several requests, connection *i* replays the *i*-th (round
robin), so that e.g. each connection moves money between its own accounts. The client runs in the benchmark's own process rather than a
pinned one: pinning it to one core would also forbid the server that core,
so instead its CPU is measured and reported next to the server's.

So that a fast error path is never mistaken for a fast server, every answer
must be a 200 without ``"errors"`` in its body, and a sample of the bodies
(the first, then every ``sample_every``-th) goes through a full check.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

Check = Callable[[bytes], "str | None"]
"""Inspects a sampled 200 body; returns what is wrong with it, or None."""
Meter = Callable[[], Mapping[str, float]]
"""Cumulative counters (CPU seconds and the like) read at both ends of the window."""
Rebalance = Callable[[Sequence[int]], "Collection[int] | None"]
"""Given the client ports of the open connections, those to close and open again (None: ask
again shortly, e.g. the server has not accepted them all yet)."""

_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"


def encode_post(
    host: str, port: int, path: str, body: bytes, headers: Mapping[str, str] | None = None
) -> bytes:
    """A complete HTTP/1.1 POST, encoded once and replayed on every request."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class LoadResult:
    requests: int
    """Answers completed inside the measured window."""
    seconds: float
    latencies: list[float]
    """Seconds from writing a request to its complete answer, sorted."""
    usage: dict[str, float]
    """How much each meter counter grew during the window (one that appeared in it, from 0)."""
    vanished: frozenset[str] = frozenset()
    """Counters read before the window but not after it (a process that exited)."""
    failures: int = 0
    first_failure: str | None = None
    checked: int = 0
    """How many bodies went through the full check."""
    reopened: int = 0
    """Connections opened again to spread them (see ``rebalance``)."""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        index = min(len(self.latencies) - 1, int(fraction * len(self.latencies)))
        return self.latencies[index]


@dataclass
class _Load:
    """State shared by the connections of one run."""

    requests: Sequence[bytes]
    check: Check
    sample_every: int
    running: bool = True
    measuring: bool = False
    completed: int = 0
    checked: int = 0
    failures: int = 0
    first_failure: str | None = None
    latencies: list[float] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        self.failures += 1
        if self.first_failure is None:
            self.first_failure = reason

    def answered(self, status: int, body: bytes, latency: float) -> None:
        self.completed += 1
        if self.measuring:
            self.latencies.append(latency)
        if status != 200:
            self.fail(f"HTTP {status}: {body[:300]!r}")
        elif b'"errors"' in body:
            self.fail(f"GraphQL errors: {body[:300]!r}")
        elif self.completed % self.sample_every == 1 or self.sample_every == 1:
            self.checked += 1
            problem = self.check(body)
            if problem is not None:
                self.fail(f"unexpected body ({problem}): {body[:300]!r}")


class _Connection(asyncio.Protocol):
    def __init__(self, load: _Load, done: asyncio.Future[None], request: bytes) -> None:
        self.load = load
        self.request = request
        self.done = done
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.retired = False
        """Closed on purpose (see ``rebalance``): its loss is no failure."""
        self.port = 0
        """This end's port, which names the connection in /proc/net/tcp."""

    def retire(self) -> None:
        self.retired = True
        assert self.transport is not None
        self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports quack like asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.port = transport.get_extra_info("sockname")[1]
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        end = buffer.find(_HEADER_END)
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        start = head.find(_CONTENT_LENGTH)
        if start < 0:
            self.load.fail(f"an answer without Content-Length: {head[:300]!r}")
            self._finish()
            return
        start += len(_CONTENT_LENGTH)
        stop = head.find(b"\r\n", start)
        length = int(head[start : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        if len(buffer) < total:
            return
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        self.load.answered(int(head[9:12]), body, time.perf_counter() - self.sent_at)
        if self.load.running:
            self._send()
        else:
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.load.running and not self.retired:
            self.load.fail(f"the server closed a connection: {exc}")
        self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def run_load(
    host: str,
    port: int,
    request: bytes | Sequence[bytes],
    *,
    connections: int,
    warmup: float,
    duration: float,
    check: Check,
    meter: Meter,
    sample_every: int = 50,
    rebalance: Rebalance | None = None,
) -> LoadResult:
    """Keep ``connections`` busy for ``warmup + duration`` seconds; measure the last ``duration``.

    ``meter`` is read right before and after the measured window, so its
    counters (server CPU, say) cover the same requests as ``requests``.
    ``rebalance``, if given, is asked before the warm-up which connections to
    open again (by client port), until it names none (at most 50 rounds).
    """
    loop = asyncio.get_running_loop()
    payloads = [request] if isinstance(request, bytes) else list(request)
    load = _Load(payloads, check, sample_every)
    opened: list[_Connection] = []
    reopened = 0

    async def connect(index: int) -> _Connection:
        done: asyncio.Future[None] = loop.create_future()
        request = payloads[index % len(payloads)]
        _transport, protocol = await loop.create_connection(
            lambda: _Connection(load, done, request), host, port
        )
        return protocol

    try:
        opened += [await connect(index) for index in range(connections)]
        for _round in range(50 if rebalance else 0):
            await asyncio.sleep(0.02)  # let the server accept them
            again = rebalance([c.port for c in opened]) if rebalance else ()
            if again is None:
                continue
            if not again:
                break
            for index, connection in enumerate(opened):
                if connection.port in again:
                    reopened += 1
                    connection.retire()
                    opened[index] = await connect(index)
        await asyncio.sleep(warmup)
        before, started, count = meter(), time.perf_counter(), load.completed
        load.measuring = True
        await asyncio.sleep(duration)
        load.measuring = False
        after, elapsed = meter(), time.perf_counter() - started
        requests = load.completed - count
        load.running = False
        # Let the requests in flight finish so the next case starts on a quiet server.
        await asyncio.wait_for(asyncio.gather(*(c.done for c in opened)), timeout=30)
    finally:
        for connection in opened:
            connection.retire()
    load.latencies.sort()
    return LoadResult(
        requests=requests,
        seconds=elapsed,
        latencies=load.latencies,
        usage={key: value - before.get(key, 0.0) for key, value in after.items()},
        vanished=frozenset(before.keys() - after.keys()),
        failures=load.failures,
        first_failure=load.first_failure,
        checked=load.checked,
        reopened=reopened,
    )
