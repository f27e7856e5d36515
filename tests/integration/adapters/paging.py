"""Probes shared by the read-side tests: walking a listing, and counting SQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from kingdom.services.ports.queries import Page, PageRequest

ListPage = Callable[[PageRequest], Awaitable[Page[Any]]]


@contextmanager
def recording_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` runs while the block runs (to prove "no query")."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def walk(list_page: ListPage, size: int, *, forward: bool) -> list[Page[Any]]:
    """Every page from one end to the other, following cursors."""
    pages: list[Page[Any]] = []
    cursor: str | None = None
    while True:
        request = PageRequest.first(size, cursor) if forward else PageRequest.last(size, cursor)
        page = await list_page(request)
        pages.append(page)
        if not (page.has_next if forward else page.has_previous):
            return pages
        cursor = page.end_cursor if forward else page.start_cursor
        assert len(pages) <= 200, "the walk does not end"


def assert_walk(
    pages: list[Page[Any]],
    expected: list[str],
    size: int,
    key: Callable[[Any], str] = lambda item: str(item.id),
    *,
    forward: bool,
) -> None:
    """The pages visit ``expected`` exactly once, in order, with exact flags and totals."""
    in_order = pages if forward else pages[::-1]
    assert [key(item) for page in in_order for item in page.items] == expected
    last = len(pages) - 1
    for n, page in enumerate(pages):
        assert len(page.items) == (size if n < last else len(expected) - size * last)
        ahead, behind = n < last, n > 0
        assert (page.has_next, page.has_previous) == (
            (ahead, behind) if forward else (behind, ahead)
        )
        assert page.total == len(expected)
        assert len({edge.cursor for edge in page.edges}) == len(page.edges)
