"""Which queries get one read snapshot: those with more than one root field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from graphql import OperationDefinitionNode, parse

from kingdom.entrypoints.graphql.app import snapshot_for
from kingdom.entrypoints.graphql.documents import Operation, root_fields


def _count(text: str) -> int:
    document = parse(text)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return root_fields(document, operation)


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("{ viewer { id } }", 1),
        ("{ __typename viewer { id } }", 1),
        ("{ viewer { id accounts(first: 5) { totalCount } } }", 1),
        ("{ viewer { id } accounts(first: 5) { totalCount } }", 2),
        ("{ a: viewer { id } b: viewer { id } }", 2),
        ("{ ... on Query { viewer { id } } }", 1),
        ("{ ...F } fragment F on Query { viewer { id } roles { totalCount } }", 2),
        ("{ ...F ...F } fragment F on Query { viewer { id } }", 1),
        ("{ viewer { id } ...F } fragment F on Query { roles { totalCount } }", 2),
        ("{ a: viewer { id } b: viewer { id } c: viewer { id } }", 2),  # counted up to 2
    ],
)
def test_root_fields_are_counted_through_fragments(text: str, count: int) -> None:
    assert _count(text) == count


class Spy:
    def __init__(self) -> None:
        self.opened = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        self.opened += 1
        yield


@pytest.mark.parametrize(
    ("operation", "opened"),
    [
        (Operation("q", "query", 2), 1),
        (Operation("q", "query", 1), 0),
        (Operation("m", "mutation", 2), 0),
        (None, 0),
    ],
)
async def test_only_queries_with_several_root_fields_open_a_snapshot(
    operation: Operation | None, opened: int
) -> None:
    spy = Spy()
    context = SimpleNamespace(services=SimpleNamespace(read_snapshot=spy))

    async with snapshot_for(context, operation):
        pass

    assert spy.opened == opened


async def test_without_a_snapshot_factory_nothing_is_opened() -> None:
    context = SimpleNamespace(services=SimpleNamespace(read_snapshot=None))
    async with snapshot_for(context, Operation("q", "query", 2)):
        pass
