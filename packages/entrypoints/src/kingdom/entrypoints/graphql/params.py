"""The parameters of a GraphQL-over-HTTP request, from a POST's JSON body or a GET's URL.

A well-formed request has a string ``query``; ``variables`` and
``extensions`` are objects or null, ``operationName`` a string or null (in a
URL, ``variables`` and ``extensions`` are JSON text and an empty
``operationName`` means none). Anything else is :class:`BadRequest`. Only the
shape is checked here: whether the query parses and validates is GraphQL's
business, and its errors are answered differently (see :mod:`.endpoint`).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qsl

import orjson

from kingdom.entrypoints.graphql.errors import BAD_REQUEST

_URL_PARAMETERS: Final = frozenset({"query", "variables", "operationName", "extensions"})


class Params(NamedTuple):
    """What a request asks to run (a tuple: built on every request, cheaply)."""

    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None


class BadRequest(Exception):
    """The request is not a well-formed GraphQL-over-HTTP request (or not one we take)."""

    def __init__(
        self,
        message: str,
        status: HTTPStatus = HTTPStatus.BAD_REQUEST,
        code: str = BAD_REQUEST,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.headers = headers


def from_body(body: bytes) -> Params:
    """The parameters of a POST's ``application/json`` body."""
    try:
        data = orjson.loads(body)
    # Also invalid UTF-8 and nesting past orjson's limit. Integers beyond 64
    # bits come back as floats, which every Int and Amount input refuses.
    except orjson.JSONDecodeError:
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        if isinstance(data, list):
            raise BadRequest("batched operations are not supported: send one operation per request")
        raise BadRequest("the request body must be a JSON object with a 'query'")
    query = data.get("query")
    if not isinstance(query, str):
        raise BadRequest("'query' must be a string")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("'variables' must be an object or null")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise BadRequest("'operationName' must be a string or null")
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise BadRequest("'extensions' must be an object or null")
    return Params(query, variables, operation_name)


def from_query_string(query_string: bytes) -> Params:
    """The parameters of a GET, URL-encoded in its query string.

    A parameter given twice is refused: which one counts would depend on who reads it.
    """
    try:
        pairs = parse_qsl(query_string.decode("ascii"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not URL-encoded UTF-8") from None
    found: dict[str, str] = {}
    for name, value in pairs:
        if name in _URL_PARAMETERS:
            if name in found:
                raise BadRequest(f"'{name}' is given more than once")
            found[name] = value
    query = found.get("query")
    if query is None:
        raise BadRequest("send the operation as 'query' in the URL, or POST it as JSON")
    _json_object(found, "extensions")  # checked, and reserved: nothing uses it yet
    return Params(
        query,
        _json_object(found, "variables"),
        found.get("operationName") or None,
    )


def _json_object(found: dict[str, str], name: str) -> dict[str, Any] | None:
    text = found.get(name)
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadRequest(f"'{name}' must be a JSON object") from None
    if value is not None and not isinstance(value, dict):
        raise BadRequest(f"'{name}' must be a JSON object or null")
    return value


def has_query(query_string: bytes) -> bool:
    """Whether a URL's query string has a ``query`` parameter (even an empty one)."""
    return any(part == b"query" or part.startswith(b"query=") for part in query_string.split(b"&"))


def holds_nul(value: object) -> bool:
    """Whether any string in ``value`` (a JSON value) contains a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    return False
