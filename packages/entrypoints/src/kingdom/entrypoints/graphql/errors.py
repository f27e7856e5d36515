"""From exceptions to GraphQL errors with a stable ``extensions.code``.

Domain errors keep their message (written for the caller) and get the code of
their class. Anything else is a bug or an outage: the client gets a generic
message and the request id, never SQL, driver or stack text; the log gets the
whole story under the same request id.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from graphql import GraphQLError, GraphQLSyntaxError

from kingdom.domain.ledger import (
    AccountClosedError,
    BalanceNotZero,
    BalanceOverflow,
    CurrencyMismatch,
    InsufficientFunds,
    SameAccountTransfer,
)
from kingdom.domain.shared import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from kingdom.services.outages import Outage, OutcomeUnknown
from kingdom.services.ports.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused

logger = logging.getLogger("kingdom.entrypoints.graphql")

UNAUTHENTICATED: Final = "UNAUTHENTICATED"
FORBIDDEN: Final = "FORBIDDEN"
NOT_FOUND: Final = "NOT_FOUND"
BAD_USER_INPUT: Final = "BAD_USER_INPUT"
CONFLICT: Final = "CONFLICT"
RATE_LIMITED: Final = "RATE_LIMITED"
"""Too many failed attempts; ``extensions.retryAfter`` says how many seconds to wait."""
INTERNAL_SERVER_ERROR: Final = "INTERNAL_SERVER_ERROR"
BAD_REQUEST: Final = "BAD_REQUEST"
"""The HTTP request itself is unusable (not JSON, not one operation object)."""
GRAPHQL_PARSE_FAILED: Final = "GRAPHQL_PARSE_FAILED"
GRAPHQL_VALIDATION_FAILED: Final = "GRAPHQL_VALIDATION_FAILED"

# Query limits (see limits.py): the document was refused before anything ran,
# and ``extensions.limit`` says which number it went over.
QUERY_TOO_LARGE: Final = "QUERY_TOO_LARGE"
TOO_MANY_TOKENS: Final = "TOO_MANY_TOKENS"
QUERY_TOO_DEEP: Final = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES: Final = "TOO_MANY_ALIASES"
TOO_MANY_SELECTIONS: Final = "TOO_MANY_SELECTIONS"
QUERY_TOO_COMPLEX: Final = "QUERY_TOO_COMPLEX"
"""``extensions.cost`` is the estimate that went over ``extensions.limit``."""
INTROSPECTION_DISABLED: Final = "INTROSPECTION_DISABLED"
"""``__schema``/``__type`` in production (``__typename`` is always fine)."""

DEADLINE_EXCEEDED: Final = "DEADLINE_EXCEEDED"
"""A query ran past the request deadline and was stopped (``extensions.limit``: ms)."""

UNAVAILABLE: Final = "UNAVAILABLE"
"""The database could not be reached or the connection was lost before anything was
written: HTTP 503 with ``Retry-After`` (and ``extensions.retryAfter``); safe to retry."""
OUTCOME_UNKNOWN: Final = "OUTCOME_UNKNOWN"
"""The connection was lost while a write committed: it may have happened. HTTP 503;
retry with the same idempotency key, or look before writing again."""
OUTAGE_MESSAGES: Final = {
    UNAVAILABLE: "The database is unavailable and nothing was written: try again shortly",
    OUTCOME_UNKNOWN: "The database connection was lost while saving: the change may or may"
    " not have been made (retry with the same idempotency key)",
}

INTERNAL_MESSAGE: Final = "Internal server error"

IDEMPOTENCY_KEY_REUSED: Final = "IDEMPOTENCY_KEY_REUSED"
"""The caller used this ``idempotencyKey`` before for a different input: nothing was
done (``extensions.status``: 422, as Unprocessable Content). Use a new key."""
IDEMPOTENCY_KEY_IN_USE: Final = "IDEMPOTENCY_KEY_IN_USE"
"""A request with this key is still running: nothing was done for this one
(``extensions.status``: 409, ``extensions.retryable``). Retry with the same key."""

# ``extensions.reason``: which business rule refused the request, stable
# whatever the message says. Clients branch on it under its ``code``.
INSUFFICIENT_FUNDS: Final = "INSUFFICIENT_FUNDS"
ACCOUNT_CLOSED: Final = "ACCOUNT_CLOSED"
CURRENCY_MISMATCH: Final = "CURRENCY_MISMATCH"
SAME_ACCOUNT: Final = "SAME_ACCOUNT"
BALANCE_NOT_ZERO: Final = "BALANCE_NOT_ZERO"
BALANCE_OVERFLOW: Final = "BALANCE_OVERFLOW"

_REASONS: Final[tuple[tuple[type[DomainError], str], ...]] = (
    (InsufficientFunds, INSUFFICIENT_FUNDS),
    (AccountClosedError, ACCOUNT_CLOSED),
    (CurrencyMismatch, CURRENCY_MISMATCH),
    (SameAccountTransfer, SAME_ACCOUNT),
    (BalanceNotZero, BALANCE_NOT_ZERO),
    (BalanceOverflow, BALANCE_OVERFLOW),
)

# Most specific first: InsufficientFunds and AccountClosedError are Conflicts
# to the domain (the balance or status is what it is), but to an API client
# they are requests to fix: CONFLICT is kept for versions and state races.
_DOMAIN_CODES: Final[tuple[tuple[type[DomainError], str], ...]] = (
    (IdempotencyKeyReused, IDEMPOTENCY_KEY_REUSED),
    (IdempotencyKeyInUse, IDEMPOTENCY_KEY_IN_USE),
    (InsufficientFunds, BAD_USER_INPUT),
    (AccountClosedError, BAD_USER_INPUT),
    (RateLimited, RATE_LIMITED),
    (Unauthenticated, UNAUTHENTICATED),
    (Forbidden, FORBIDDEN),
    (NotFound, NOT_FOUND),
    (Invalid, BAD_USER_INPUT),
    (Conflict, CONFLICT),
)


_IDEMPOTENCY_EXTENSIONS: Final[dict[str, dict[str, Any]]] = {
    IDEMPOTENCY_KEY_REUSED: {"status": 422},
    IDEMPOTENCY_KEY_IN_USE: {"status": 409, "retryable": True},
}


def code_for_exception(error: BaseException) -> str:
    """The code of an exception raised by a resolver (or the layers below it)."""
    for kind, code in _DOMAIN_CODES:
        if isinstance(error, kind):
            return code
    if isinstance(error, DomainError):
        return BAD_USER_INPUT
    if isinstance(error, Outage):
        return OUTCOME_UNKNOWN if isinstance(error, OutcomeUnknown) else UNAVAILABLE
    return INTERNAL_SERVER_ERROR


def reason_for_exception(error: BaseException) -> str | None:
    """The business rule behind a refusal (``extensions.reason``), if it has one."""
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return None


def code_for(error: GraphQLError) -> str:
    """The code of any error the executor reports, raised by us or by GraphQL itself.

    Errors with a path were raised while resolving a field; the others come
    from reading the request (parsing, validation, coercing variables), where
    an exception inside (a scalar refusing a value) is still the client's
    input being refused.
    """
    given = (error.extensions or {}).get("code")
    if error.path is not None:
        original = _original(error)
        if original is not None:
            return code_for_exception(original)
        return given if isinstance(given, str) else INTERNAL_SERVER_ERROR
    if isinstance(given, str):
        return given
    if isinstance(error, GraphQLSyntaxError):
        return GRAPHQL_PARSE_FAILED
    if error.message.startswith("Variable '$"):
        return BAD_USER_INPUT  # a variable of the wrong type, or a missing one
    return GRAPHQL_VALIDATION_FAILED


def is_unexpected(error: GraphQLError) -> bool:
    return code_for(error) == INTERNAL_SERVER_ERROR


def format_error(
    error: GraphQLError,
    debug: bool = False,
    *,
    request_id: str | None = None,
    hide_suggestions: bool = False,
) -> dict[str, Any]:
    """The error as the client sees it.

    ``debug`` adds nothing: stack traces belong in the log, which has them.
    An unexpected error keeps only its code and ``request_id``, the key to
    its log entry. ``hide_suggestions`` (production) removes graphql-core's
    "Did you mean ...?" hints, which would spell out the schema piece by piece
    (graphql-core is asked not to make them too; this catches any it still does).
    """
    formatted: dict[str, Any] = dict(error.formatted)
    code = code_for(error)
    extensions = dict(formatted.get("extensions") or {})
    extensions["code"] = code
    original = _original(error)
    if isinstance(original, RateLimited):
        extensions["retryAfter"] = original.retry_after_seconds
    if code in _IDEMPOTENCY_EXTENSIONS:
        extensions.update(_IDEMPOTENCY_EXTENSIONS[code])
    reason = reason_for_exception(original) if original is not None else None
    if reason is not None:
        extensions["reason"] = reason
    if code == INTERNAL_SERVER_ERROR or code in OUTAGE_MESSAGES:
        # Whatever else was attached (a driver's message) may be internal too.
        formatted["message"] = OUTAGE_MESSAGES.get(code, INTERNAL_MESSAGE)
        extensions = {"code": code}
        if isinstance(original, Outage):
            extensions["retryAfter"] = original.retry_after_seconds
        if request_id is not None:
            extensions["requestId"] = request_id
    elif hide_suggestions and "Did you mean" in formatted["message"]:
        formatted["message"] = _SUGGESTION.sub("", formatted["message"])
    formatted["extensions"] = extensions
    return formatted


_SUGGESTION: Final = re.compile(r" ?Did you mean [^?]*\?")


class RequestErrors:
    """Formats the errors of one request (:func:`format_error`) and logs each once.

    Unexpected errors are logged at ERROR with their traceback under the
    request id the client was given; expected ones (a wrong password, a
    forbidden write, a query over a limit) are answers, not incidents, and
    are logged at DEBUG only.
    """

    __slots__ = ("request_id", "hide_suggestions", "outage")

    def __init__(self, request_id: str, *, hide_suggestions: bool = False) -> None:
        self.request_id = request_id
        self.hide_suggestions = hide_suggestions
        self.outage: Outage | None = None
        """The first outage formatted: the answer gets ``Retry-After`` (a 503 unless
        other fields produced data, see :mod:`.endpoint`)."""

    def __call__(self, error: GraphQLError, debug: bool = False) -> dict[str, Any]:
        self.log(error)
        original = _original(error)
        if self.outage is None and isinstance(original, Outage):
            self.outage = original
        return format_error(
            error, request_id=self.request_id, hide_suggestions=self.hide_suggestions
        )

    def log(self, error: GraphQLError) -> None:
        path = ".".join(str(part) for part in error.path or ()) or "-"
        if is_unexpected(error):
            original = _original(error) or error
            logger.error(
                "request %s: unexpected error at %s",
                self.request_id,
                path,
                exc_info=(type(original), original, original.__traceback__),
            )
        elif isinstance(_original(error), Outage):
            logger.warning(
                "request %s: %s at %s: %s", self.request_id, code_for(error), path, error
            )
        elif logger.isEnabledFor(logging.DEBUG):
            logger.debug("request %s: %s at %s: %s", self.request_id, code_for(error), path, error)


def error_body(message: str, code: str, request_id: str | None = None) -> dict[str, Any]:
    """A GraphQL-shaped body for a request refused before execution."""
    extensions: dict[str, Any] = {"code": code}
    if request_id is not None:
        extensions["requestId"] = request_id
    return {"errors": [{"message": message, "extensions": extensions}]}


def _original(error: GraphQLError) -> BaseException | None:
    """The exception a resolver raised, if any (GraphQL errors may wrap one another)."""
    original = error.original_error
    while isinstance(original, GraphQLError):
        if original.original_error is None:
            return None
        original = original.original_error
    return original
