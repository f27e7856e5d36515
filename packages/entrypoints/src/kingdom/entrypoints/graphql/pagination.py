"""Relay cursor connections over the query ports' keyset pages.

Arguments: ``first``/``after`` walk forward, ``last``/``before`` walk
backward; with none of them a connection returns its first
:data:`DEFAULT_PAGE_SIZE` items. The two directions do not mix (``first``
with ``last``, or ``after`` with ``before``, is refused rather than given one
of the spec's odd meanings), sizes run from 1 to
:data:`~kingdom.services.ports.MAX_PAGE_SIZE`, and cursors are the adapters'
signed ones, passed through untouched: a forged cursor fails in the adapter
with ``Invalid``. Every refusal is a ``BAD_USER_INPUT``.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

from kingdom.domain.shared import Invalid
from kingdom.services.ports import MAX_PAGE_SIZE, Page, PageRequest

DEFAULT_PAGE_SIZE: Final = 20

T = TypeVar("T")


def page_request(
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> PageRequest:
    if first is not None and last is not None:
        raise Invalid("use either 'first' or 'last', not both")
    if after is not None and before is not None:
        raise Invalid("use either 'after' or 'before', not both")
    if last is not None or before is not None:
        if first is not None or after is not None:
            raise Invalid("'last' and 'before' page backward; 'first' and 'after' forward")
        return PageRequest.last(_size("last", last), _cursor("before", before))
    return PageRequest.first(_size("first", first), _cursor("after", after))


def connection(page: Page[T]) -> dict[str, Any]:
    """The connection object the schema's ``*Connection`` types resolve from.

    The page's own edges are the ``*Edge`` objects (``cursor``, ``node``):
    nothing is copied per row.
    """
    return {
        "edges": page.edges,
        "page_info": {
            "has_next_page": page.has_next,
            "has_previous_page": page.has_previous,
            "start_cursor": page.start_cursor,
            "end_cursor": page.end_cursor,
        },
        "total_count": page.total,
    }


def _size(name: str, value: int | None) -> int:
    if value is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= value <= MAX_PAGE_SIZE:
        raise Invalid(f"'{name}' must be between 1 and {MAX_PAGE_SIZE}")
    return value


def _cursor(name: str, value: str | None) -> str | None:
    if value == "":
        raise Invalid(f"'{name}' cannot be an empty cursor")
    return value
