"""The GraphQL API as an ASGI app: the schema ariadne binds, served by our own endpoint.

:func:`create_graphql_app` puts together what one API needs, once: the
executable schema (:mod:`.schema`, ariadne's only part), the document
preparer with its limits and cache (:mod:`.documents`), the request context
(:mod:`.context`), and the endpoint that speaks GraphQL over HTTP
(:mod:`.endpoint`, whose docstring has the rules and status codes).
"""

from __future__ import annotations

from graphql import GraphQLSchema

from kingdom.entrypoints.graphql.context import ContextFactory, GraphQLServices
from kingdom.entrypoints.graphql.documents import DocumentPreparer
from kingdom.entrypoints.graphql.endpoint import (
    DEFAULT_DEADLINE,
    MAX_BODY_BYTES,
    GraphQLEndpoint,
    snapshot_for,
)
from kingdom.entrypoints.graphql.limits import QueryLimits
from kingdom.entrypoints.graphql.schema import build_schema
from kingdom.entrypoints.http.explorer import ExplorerPage

__all__ = [
    "DEFAULT_DEADLINE",
    "MAX_BODY_BYTES",
    "GraphQLEndpoint",
    "create_graphql_app",
    "snapshot_for",
]


def create_graphql_app(
    services: GraphQLServices,
    *,
    debug: bool = False,
    production: bool = False,
    limits: QueryLimits | None = None,
    deadline: float = DEFAULT_DEADLINE,
    schema: GraphQLSchema | None = None,
) -> GraphQLEndpoint:
    """The GraphQL API over ``services``, as an ASGI app to serve at ``/graphql``.

    ``debug`` serves the GraphiQL explorer to a browser's GET without a
    query. ``production`` refuses introspection, hides suggestions and never
    serves the explorer. Error responses are otherwise the same either way.
    ``deadline`` is how many seconds a query may run.
    ``schema`` replaces the built one (tests bind their own resolvers).
    Everything that does not depend on the request (schema, rules, cost map,
    document cache) is built here, once.
    """
    schema = schema if schema is not None else build_schema()
    documents = DocumentPreparer(
        schema,
        limits or QueryLimits(),
        introspection=not production,
        hide_suggestions=production,
    )
    return GraphQLEndpoint(
        schema,
        documents,
        ContextFactory(services),
        hide_suggestions=production,
        deadline=deadline,
        explorer=ExplorerPage() if debug and not production else None,
    )
