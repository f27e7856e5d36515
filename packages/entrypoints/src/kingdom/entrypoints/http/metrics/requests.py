"""``kingdom_http_requests_total`` and ``kingdom_http_request_duration_seconds``, per request.

Labels are few and bounded whatever clients send, since every distinct
label set is a time series Prometheus keeps:

- ``operation``: the GraphQL operation name for ``POST /graphql``, and for
  a ``GET /graphql`` that carried an operation (``anonymous`` when it has
  none or none was found; only the first :data:`MAX_OPERATIONS` names a
  process sees get a series of their own, the rest share ``other``); the
  path for the fixed routes (:data:`ROUTES`, and ``/metrics``); ``other``
  for anything else (a 404 path is the client's choice);
- ``outcome``: ``ok``, or the ``extensions.code`` of the response's first
  error (``UNAUTHENTICATED``, ``BAD_USER_INPUT``, ``RATE_LIMITED``...),
  noted by the GraphQL handler; for other errors the HTTP status's name
  (``NOT_FOUND``, ``METHOD_NOT_ALLOWED``, ``SERVICE_UNAVAILABLE``);
  ``NO_RESPONSE`` when the request ended before a response began;
- the duration histogram only by ``operation_type``: ``query``,
  ``mutation`` or ``other`` (everything that is not a GraphQL operation).

Why requests are tallied first: a prometheus_client update costs a lock
and, with several workers, a write into a memory-mapped file; a request
would make three (its counter, the histogram's bucket and sum), several
microseconds in all. :meth:`RequestMetrics.observe` adds to plain
dictionaries and lists instead, and :meth:`RequestMetrics.flush` moves the
tallies into the prometheus_client metrics in one go: before this process
answers a scrape, and at most :data:`FLUSH_SECONDS` after a request (so the
other workers' counts reach a scrape within that time).
"""

from __future__ import annotations

import asyncio
import logging
import math
from bisect import bisect_left
from collections.abc import Collection, Mapping
from http import HTTPStatus
from typing import Any, Final, cast

from prometheus_client import CollectorRegistry, Counter, Histogram

from kingdom.entrypoints.http import jwks
from kingdom.entrypoints.http.access_log import ERROR_CODE, OPERATION, OPERATION_TYPE

logger = logging.getLogger("kingdom.entrypoints.http.metrics")

GRAPHQL_PATH: Final = "/graphql"
ROUTES: Final = frozenset({"/health/live", "/health/ready", jwks.PATH})
"""Paths counted under their own name (GraphQL operation names cannot hold a ``/``)."""
MAX_OPERATIONS: Final = 200
"""Distinct GraphQL operation names counted apart, per process; later ones are ``other``."""
FLUSH_SECONDS: Final = 1.0
"""At most this long after a request, its counts are in the metrics every worker scrapes."""

OK: Final = "ok"
ANONYMOUS: Final = "anonymous"
OTHER: Final = "other"
NO_RESPONSE: Final = "NO_RESPONSE"
OPERATION_TYPES: Final = ("query", "mutation")

DURATION_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
"""Seconds: most requests take a millisecond or a few, the query deadline is 5 s."""
_BOUNDS: Final = (*DURATION_BUCKETS, math.inf)
"""Each bucket's upper bound, as the histogram orders its buckets (``+Inf`` last)."""


class _Durations:
    """One operation type's durations since the last flush: a count per bucket, and the sum."""

    __slots__ = ("histogram", "buckets", "seconds")

    def __init__(self, histogram: Histogram) -> None:
        self.histogram = histogram
        self.buckets = [0] * len(_BOUNDS)
        self.seconds = 0.0

    def flush(self) -> None:
        """Add the tally to the histogram, as that many ``observe`` calls would, and reset it.

        prometheus_client has no call for adding many observations: this
        writes the child's bucket and sum values (``_buckets``, ``_sum``: the
        library's own layout, one value per bucket, ``+Inf`` last; a unit
        test holds it to what ``observe`` does).
        """
        if not any(self.buckets):
            return
        buckets, seconds = self.buckets, self.seconds
        self.buckets, self.seconds = [0] * len(_BOUNDS), 0.0
        values: list[Any] = self.histogram._buckets
        for index, count in enumerate(buckets):
            if count:
                values[index].inc(count)
        self.histogram._sum.inc(seconds)


class RequestMetrics:
    """Counts and times HTTP requests; :meth:`observe` is the access log's ``observe``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        routes: Collection[str] = ROUTES,
        max_operations: int = MAX_OPERATIONS,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._requests = Counter(
            "kingdom_http_requests_total",
            "HTTP requests by GraphQL operation (or route) and outcome"
            " (ok or the first error's code).",
            ["operation", "outcome"],
            registry=registry,
        )
        durations = Histogram(
            "kingdom_http_request_duration_seconds",
            "Time to answer an HTTP request, by GraphQL operation type (other: not an operation).",
            ["operation_type"],
            registry=registry,
            buckets=DURATION_BUCKETS,
        )
        self._routes = frozenset(routes)
        self._max_operations = max_operations
        self._flush_seconds = flush_seconds
        self._operations: dict[str | None, str] = {None: ANONYMOUS}
        """Operation name -> label, for the names admitted so far (None: anonymous)."""
        self._counters: dict[tuple[str, str], Counter] = {}
        """(operation, outcome) -> its counter child; bounded by the labels' bounds."""
        self._counted: dict[tuple[str, str], int] = {}
        """Requests since the last flush, by (operation, outcome)."""
        self._timed: dict[str | None, _Durations] = {
            kind: _Durations(durations.labels(kind)) for kind in OPERATION_TYPES
        }
        self._timed_other = _Durations(durations.labels(OTHER))
        self._all_timed = (*self._timed.values(), self._timed_other)
        self._flush: asyncio.TimerHandle | None = None

    def observe(
        self, method: str, path: str, status: int | None, state: Mapping[str, Any], seconds: float
    ) -> None:
        """Count one finished request and its duration (in the metrics at the next flush)."""
        if path == GRAPHQL_PATH and (method == "POST" or OPERATION_TYPE in state):
            name = state.get(OPERATION)
            operation = self._operations.get(name)
            if operation is None:
                operation = self._admit(cast(str, name))  # None is in the table
        else:
            operation = path if path in self._routes else OTHER
        key = (operation, state.get(ERROR_CODE) or _status_outcome(status))
        counted = self._counted
        counted[key] = counted.get(key, 0) + 1
        durations = self._timed.get(state.get(OPERATION_TYPE)) or self._timed_other
        durations.buckets[bisect_left(_BOUNDS, seconds)] += 1
        durations.seconds += seconds
        if self._flush is None:
            self._schedule_flush()

    def flush(self) -> None:
        """Move the tallies into the prometheus_client metrics (and the workers' files)."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        counted, self._counted = self._counted, {}
        try:
            for key, count in counted.items():
                counter = self._counters.get(key)
                if counter is None:
                    counter = self._counters[key] = self._requests.labels(*key)
                counter.inc(count)
            for durations in self._all_timed:
                durations.flush()
        except Exception:
            # Never a request's or a scrape's failure (the metrics directory
            # gone, a full disk): what could not be written is dropped rather
            # than written twice by the next flush.
            logger.warning("metrics: could not record the latest requests", exc_info=True)

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside an event loop: nothing to wait for
            self.flush()
            return
        self._flush = loop.call_later(self._flush_seconds, self.flush)

    def _admit(self, name: str) -> str:
        """A new operation name's label: its own while there is room, else ``other``.

        Names past the cap are not remembered either: a client inventing
        names must not grow this process's memory.
        """
        if len(self._operations) > self._max_operations:  # the anonymous entry is not a name
            return OTHER
        self._operations[name] = name
        return name


def _status_outcome(status: int | None) -> str:
    """``ok`` below 400, else the status's name (``NOT_FOUND``), for responses with no error code."""
    if status is None:
        return NO_RESPONSE
    if status < 400:
        return OK
    try:
        return HTTPStatus(status).name
    except ValueError:
        return f"HTTP_{status}"
