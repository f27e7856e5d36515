"""The executable schema: each context's SDL file, merged, with its resolvers bound.

The ``.graphql`` files are package resources (``schema/``), read with
:mod:`importlib.resources`, so they travel inside wheels and pexes alike.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from ariadne import make_executable_schema
from graphql import GraphQLSchema

from kingdom.entrypoints.graphql import audit, identity, ledger, nodes, scalars
from kingdom.entrypoints.graphql.directives import DIRECTIVES

SCHEMA_FILES: Final = ("base.graphql", "identity.graphql", "ledger.graphql", "audit.graphql")
"""In merge order: ``base`` declares what the contexts extend."""


def type_defs() -> list[str]:
    folder = resources.files("kingdom.entrypoints.graphql").joinpath("schema")
    return [folder.joinpath(name).read_text(encoding="utf-8") for name in SCHEMA_FILES]


def build_schema() -> GraphQLSchema:
    """Parse, merge and bind the schema; a resolver or directive mismatch fails here."""
    return make_executable_schema(
        type_defs(),
        *scalars.SCALARS,
        *nodes.BINDABLES,
        *identity.BINDABLES,
        *ledger.BINDABLES,
        *audit.BINDABLES,
        directives=DIRECTIVES,
        # GraphQL's camelCase arguments and fields meet Python's snake_case.
        convert_names_case=True,
    )
