"""Kingdom's GraphQL API: schema-first (``schema/*.graphql``, bound by ariadne), served
over HTTP by our own endpoint on graphql-core (:mod:`.endpoint`).

The composition root builds a :class:`GraphQLServices` and serves
``create_graphql_app(services, debug=...)`` at ``/graphql``.
"""

from kingdom.entrypoints.graphql.app import create_graphql_app
from kingdom.entrypoints.graphql.context import GraphQLServices, RequestContext

__all__ = ["GraphQLServices", "RequestContext", "create_graphql_app"]
