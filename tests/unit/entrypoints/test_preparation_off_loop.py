"""New documents are parsed and validated off the event loop; cached ones on it, for free.

This is what keeps a worker answering (``/health/live`` among the rest) while
clients send documents it has never seen: the loop gets the interpreter back
every few milliseconds instead of waiting out each parse and validation.
``tests/e2e/test_hostile_documents.py`` measures the latency that results.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

import graphql
from graphql import DocumentNode

from kingdom.entrypoints.graphql.context import ContextFactory
from kingdom.entrypoints.graphql.documents import DocumentPreparer
from kingdom.entrypoints.graphql.endpoint import GraphQLEndpoint
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.entrypoints.graphql.schema import build_schema


def endpoint(documents: DocumentPreparer) -> GraphQLEndpoint:
    """The GraphQL endpoint around ``documents`` (no request reaches it here)."""
    return GraphQLEndpoint(documents.schema, documents, ContextFactory(cast(Any, None)))


class ParsingThreads:
    """``graphql.parse``, noting which thread each call ran on."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def __call__(self, source: str, **options: Any) -> DocumentNode:
        self.threads.append(threading.get_ident())
        return graphql.parse(source, **options)


async def test_a_new_document_is_prepared_on_another_thread_and_then_served_from_the_cache() -> (
    None
):
    parsing = ParsingThreads()
    handler = endpoint(DocumentPreparer(build_schema(), QueryLimits(), parse=parsing))
    loop_thread = threading.get_ident()

    first = await handler.prepared("{ viewer { id } }")
    again = await handler.prepared("{ viewer { id } }  # same document")

    assert first.valid
    assert again is first
    assert len(parsing.threads) == 1
    assert parsing.threads[0] != loop_thread


async def test_the_loop_runs_other_work_while_a_document_is_prepared() -> None:
    """The parse waits for a task on the loop: on the loop itself it would wait in vain."""
    ticked = threading.Event()
    saw_the_tick: list[bool] = []

    def parse_waiting_for_the_loop(source: str, **options: Any) -> DocumentNode:
        saw_the_tick.append(ticked.wait(timeout=30))
        return graphql.parse(source, **options)

    handler = endpoint(
        DocumentPreparer(build_schema(), QueryLimits(), parse=parse_waiting_for_the_loop)
    )

    async def tick() -> None:
        ticked.set()

    preparing = asyncio.ensure_future(handler.prepared("{ __typename }"))
    await asyncio.sleep(0)
    await tick()
    prepared = await preparing

    assert prepared.valid
    assert saw_the_tick == [True]
