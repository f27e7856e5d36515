"""Media types: which one a client's ``Accept`` asks for, and whether a body is JSON.

:func:`negotiate` follows RFC 9110 (section 12.5.1): each offered type gets
the quality of the most specific media range that matches it (``type/subtype``
over ``type/*`` over ``*/*``, the highest ``q`` among equals), and the offered
type with the highest quality wins; a quality of 0 refuses a type. Ties go to
the type the client named itself, then to the server's order of preference,
except that a type reached only through a wildcard (``*/*``, ``application/*``)
is the ``default``: a client that named none of our types gets the one it most
likely expects. A malformed range (no ``/``, a ``q`` that is not a qvalue) is
skipped, as is one asking for a ``charset`` other than UTF-8 (our only one).

Clients send the same few ``Accept`` values over and over, so a
:class:`Negotiator` remembers its answer for each (up to a few hundred values).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

JSON: Final = "application/json"
GRAPHQL_RESPONSE: Final = "application/graphql-response+json"
HTML: Final = "text/html"

_QVALUE: Final = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")
_UTF8: Final = frozenset({"utf-8", "utf8"})
_REMEMBERED: Final = 256
"""Distinct ``Accept`` values a negotiator keeps its answer for (then it starts over)."""


def media_ranges(accept: str) -> list[tuple[str, str, float, bool]]:
    """``(type, subtype, q, utf8)`` for each well-formed range of an ``Accept`` value.

    ``utf8`` is false when the range asks for another charset.
    """
    ranges = []
    for part in accept.split(","):
        name, *parameters = part.split(";")
        type_, slash, subtype = name.strip().lower().partition("/")
        if not slash or not type_ or not subtype or (type_ == "*" and subtype != "*"):
            continue
        q, utf8 = 1.0, True
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                if not _QVALUE.fullmatch(value):
                    break
                q = float(value)
            elif key == "charset":
                utf8 = value.lower() in _UTF8
        else:
            ranges.append((type_, subtype, q, utf8))
    return ranges


def negotiate(accept: str | None, offered: Sequence[str], default: str) -> str | None:
    """The type of ``offered`` (in the server's order of preference) that ``accept`` prefers.

    ``None`` if it accepts none of them; ``default`` (one of ``offered``)
    when no ``Accept`` was sent, and when only wildcards decided.
    """
    if accept is None or not accept.strip():
        return default
    ranges = media_ranges(accept)
    best: tuple[float, int, int] = (0.0, 0, 0)
    chosen = None
    for preference, media_type in enumerate(reversed(offered)):
        type_, _, subtype = media_type.partition("/")
        specificity, q = -1, 0.0
        for range_type, range_subtype, range_q, utf8 in ranges:
            if not utf8:
                continue  # a charset we cannot write
            if range_type == type_ and range_subtype == subtype:
                matched = 2
            elif range_type == type_ and range_subtype == "*":
                matched = 1
            elif range_type == "*":
                matched = 0
            else:
                continue
            if matched > specificity or (matched == specificity and range_q > q):
                specificity, q = matched, range_q
        if q <= 0:
            continue
        # Named: the server's order; through a wildcard: the default first.
        rank = preference if specificity == 2 else int(media_type == default)
        if (q, specificity, rank) > best:
            best, chosen = (q, specificity, rank), media_type
    return chosen


class Negotiator:
    """:func:`negotiate` for one list of offered types, remembering each ``Accept`` value's answer."""

    __slots__ = ("offered", "default", "_answers")

    def __init__(self, offered: Sequence[str], default: str) -> None:
        self.offered = tuple(offered)
        self.default = default
        self._answers: dict[bytes, str | None] = {}

    def __call__(self, accept: bytes | None) -> str | None:
        if accept is None:
            return self.default
        try:
            return self._answers[accept]
        except KeyError:
            pass
        answer = negotiate(accept.decode("latin-1"), self.offered, self.default)
        if len(self._answers) >= _REMEMBERED:
            self._answers.clear()
        self._answers[accept] = answer
        return answer


def is_json(content_type: bytes | None) -> bool:
    """Whether a ``Content-Type`` is ``application/json`` in UTF-8 (the charset may be omitted)."""
    if content_type is None:
        return False
    if content_type == b"application/json":
        return True
    name, *parameters = content_type.decode("latin-1").split(";")
    if name.strip().lower() != JSON:
        return False
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            return False
    return True
