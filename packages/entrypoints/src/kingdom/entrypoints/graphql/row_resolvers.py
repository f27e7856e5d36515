"""Resolvers split in two: what depends on the request once per field, what depends on the row per row.

A field of a list's items is resolved once per row: a page of 50 accounts
asks for ``owner`` 50 times, and each time graphql-core's resolver would
look up the read scope, the request's loader and the look-ahead again,
although none of it changes within the field of one request. A resolver
made with :func:`per_row` says so: its ``prepare(info, **arguments)``
does that work and returns the function of the row. The compiled plans
(:mod:`.plans`) call ``prepare`` once per field per request, on the field's
first row, and then only the row function; graphql-core, which knows
nothing of this, calls the resolver, which prepares and resolves in one go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kingdom.entrypoints.graphql.context import Info

RowResolver = Callable[[Any], Any]
"""The value of a field for one row (the parent object)."""

Prepare = Callable[..., RowResolver]
"""``prepare(info, **arguments)``: a field's row resolver for one request."""


def per_row(prepare: Prepare) -> Callable[..., Any]:
    """A graphql-core resolver from ``prepare``, which :func:`preparer_of` finds again."""

    def resolve(obj: Any, info: Info, **arguments: Any) -> Any:
        return prepare(info, **arguments)(obj)

    resolve.prepare = prepare  # type: ignore[attr-defined]
    resolve.__name__ = getattr(prepare, "__name__", resolve.__name__)
    return resolve


def preparer_of(resolve: Callable[..., Any] | None) -> Prepare | None:
    """``resolve``'s per-request half, if it was made with :func:`per_row`."""
    prepare: Prepare | None = getattr(resolve, "prepare", None)
    return prepare
