"""``kingdom_http_requests_total`` and ``kingdom_http_request_duration_seconds``, per request.

Labels are few and bounded whatever clients send, since every distinct
label set is a time series Prometheus keeps:

- ``operation``: the GraphQL operation name for ``POST /graphql``
  (``anonymous`` when it has none or none was found; only the first
  :data:`MAX_OPERATIONS` names a process sees get a series of their own, the
  rest share ``other``); the path for the fixed routes (:data:`ROUTES`, and
  ``/metrics``); ``other`` for anything else (a 404 path is the client's choice);
- ``outcome``: ``ok``, or the ``extensions.code`` of the response's first
  error (``UNAUTHENTICATED``, ``BAD_USER_INPUT``, ``RATE_LIMITED``...),
  noted by the GraphQL handler; for other errors the HTTP status's name
  (``NOT_FOUND``, ``METHOD_NOT_ALLOWED``, ``SERVICE_UNAVAILABLE``);
  ``NO_RESPONSE`` when the request ended before a response began;
- the duration histogram only by ``operation_type``: ``query``,
  ``mutation`` or ``other`` (everything that is not a GraphQL operation).

Recording is on every request's path, so labelled children are looked up
in small dictionaries built as they first appear, not through
``Counter.labels`` (which validates and builds its key every time).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from http import HTTPStatus
from typing import Any, Final, cast

from prometheus_client import CollectorRegistry, Counter, Histogram

from kingdom.entrypoints.http import jwks
from kingdom.entrypoints.http.access_log import ERROR_CODE, OPERATION, OPERATION_TYPE

GRAPHQL_PATH: Final = "/graphql"
ROUTES: Final = frozenset({"/health/live", "/health/ready", jwks.PATH})
"""Paths counted under their own name (GraphQL operation names cannot hold a ``/``)."""
MAX_OPERATIONS: Final = 200
"""Distinct GraphQL operation names counted apart, per process; later ones are ``other``."""

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


class RequestMetrics:
    """Counts and times HTTP requests; :meth:`observe` is the access log's ``observe``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        routes: Collection[str] = ROUTES,
        max_operations: int = MAX_OPERATIONS,
    ) -> None:
        self._requests = Counter(
            "kingdom_http_requests_total",
            "HTTP requests by GraphQL operation (or route) and outcome (ok or the first error's code).",
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
        self._other_duration = durations.labels(OTHER)
        self._durations: dict[str | None, Histogram] = {
            kind: durations.labels(kind) for kind in OPERATION_TYPES
        }
        self._routes = frozenset(routes)
        self._max_operations = max_operations
        self._operations: dict[str | None, str] = {None: ANONYMOUS}
        """Operation name -> label, for the names admitted so far (None: anonymous)."""
        self._counters: dict[tuple[str, str], Counter] = {}
        """(operation, outcome) -> its counter child; bounded by the labels' bounds."""

    def observe(
        self, method: str, path: str, status: int | None, state: Mapping[str, Any], seconds: float
    ) -> None:
        """Count one finished request and record its duration."""
        if path == GRAPHQL_PATH and method == "POST":
            name = state.get(OPERATION)
            operation = self._operations.get(name)
            if operation is None:
                operation = self._admit(cast(str, name))  # None is in the table
        else:
            operation = path if path in self._routes else OTHER
        outcome = state.get(ERROR_CODE) or _status_outcome(status)
        key = (operation, outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self._requests.labels(operation, outcome)
        counter.inc()
        self._durations.get(state.get(OPERATION_TYPE), self._other_duration).observe(seconds)

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
