"""Prints the whole GraphQL schema as one SDL file, for clients and their compilers.

``./pants run packages/entrypoints:schema > schema.graphql`` refreshes the
checked-in copy at the top of the repository; a test fails while that copy
differs from what the server serves, so it cannot drift.
"""

from __future__ import annotations

import sys

from graphql import print_schema

from kingdom.entrypoints.graphql.schema import build_schema


def schema_sdl() -> str:
    """The served schema in SDL, directives included, ending in one newline."""
    return print_schema(build_schema()).rstrip("\n") + "\n"


def main() -> None:
    sys.stdout.write(schema_sdl())


if __name__ == "__main__":
    main()
