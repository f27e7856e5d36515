"""The checked-in ``schema.graphql`` is the schema the server serves."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as parse_sdl
from graphql import print_schema

from kingdom.entrypoints.schema_sdl import schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schema.graphql"
REFRESH = "./pants run packages/entrypoints:schema > schema.graphql"


def test_the_checked_in_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_sdl(), f"refresh it: {REFRESH}"


def test_the_printed_schema_is_valid_sdl_a_client_can_load() -> None:
    loaded = parse_sdl(schema_sdl())
    assert print_schema(loaded).rstrip("\n") + "\n" == schema_sdl()
    assert loaded.query_type is not None
    assert loaded.mutation_type is not None
