"""Query limits, the cost model and the document cache, on the real schema without a server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import graphql
import pytest
from graphql import DocumentNode, GraphQLError, GraphQLSchema
from hypothesis import given, settings
from hypothesis import strategies as st

from kingdom.entrypoints.graphql.cost import UNPAGED_LIST_SIZE, cost_map
from kingdom.entrypoints.graphql.documents import DocumentPreparer, LruCache, normalized
from kingdom.entrypoints.graphql.errors import format_error
from kingdom.entrypoints.graphql.limits import QueryLimits, parse_limited
from kingdom.entrypoints.graphql.schema import build_schema

SCHEMA = build_schema()


DEFAULTS = QueryLimits()


def codes(
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    limits: QueryLimits = DEFAULTS,
    production: bool = False,
) -> list[str]:
    preparer = DocumentPreparer(
        SCHEMA, limits, introspection=not production, hide_suggestions=production
    )
    prepared = preparer.prepare(query)
    errors = list(prepared.errors) or preparer.variable_errors(prepared, variables)
    return [format_error(error)["extensions"]["code"] for error in errors]


def cost_of(query: str, variables: Mapping[str, Any] | None = None) -> int:
    """The estimate, read from the error of a preparer whose limit is 0."""
    preparer = DocumentPreparer(SCHEMA, QueryLimits(max_cost=0))
    prepared = preparer.prepare(query)
    errors = list(prepared.errors) or preparer.variable_errors(prepared, variables)
    costs: list[int] = [(e.extensions or {})["cost"] for e in errors]
    assert len(costs) <= 1, errors
    return costs[0] if costs else 0


TEN_DEEP = (
    "{ accounts { edges { node { transfers { edges { node {"
    " source { owner { roles { id } } } } } } } } } }"
)
ELEVEN_DEEP = TEN_DEEP.replace("roles { id }", "roles { policies { resource } }")


# Depth


def test_depth_counts_levels_of_fields_up_to_the_limit() -> None:
    assert codes(TEN_DEEP, limits=QueryLimits(max_cost=10**9)) == []
    assert codes(ELEVEN_DEEP, limits=QueryLimits(max_cost=10**9)) == ["QUERY_TOO_DEEP"]
    assert codes("{ viewer { id } }", limits=QueryLimits(max_depth=2)) == []
    assert codes("{ viewer { roles { id } } }", limits=QueryLimits(max_depth=2)) == [
        "QUERY_TOO_DEEP"
    ]


def test_depth_follows_fragments_and_inline_fragments() -> None:
    query = """
    query { node(id: "x") { ... on Account { ...Owner } } }
    fragment Owner on Account { owner { roles { policies { resource } } } }
    """
    assert codes(query, limits=QueryLimits(max_depth=5)) == []
    assert codes(query, limits=QueryLimits(max_depth=4)) == ["QUERY_TOO_DEEP"]


def test_depth_counts_introspection_but_not_of_type_chains() -> None:
    deep_schema_walk = (
        '{ __type(name: "User") { fields { type { fields { type { fields { type { fields'
        " { type { fields { name } } } } } } } } } } }"
    )
    assert "QUERY_TOO_DEEP" in codes(deep_schema_walk)
    # GraphiQL's own schema query nests ofType nine times and must still work.
    assert codes(graphql.get_introspection_query(descriptions=True)) == []


def test_a_fragment_cycle_is_refused_by_the_spec_rule_without_recursing_forever() -> None:
    query = "query { viewer { ...A } } fragment A on User { ...B } fragment B on User { ...A }"
    assert codes(query) == ["GRAPHQL_VALIDATION_FAILED"]


def test_a_query_nested_past_the_parser_is_too_deep() -> None:
    query = "{ viewer " + "{ id " * 600 + "}" * 601
    assert codes(query, limits=QueryLimits(max_tokens=100_000)) == ["QUERY_TOO_DEEP"]


# Aliases and tokens


def test_aliases_are_counted_in_the_whole_document() -> None:
    fifteen = " ".join(f"a{i}: __typename" for i in range(15))
    assert codes("{ " + fifteen + " }") == []
    assert codes("{ " + fifteen + " b: __typename }") == ["TOO_MANY_ALIASES"]
    in_fragment = "query { viewer { ...F } } fragment F on User { a: id b: id c: id }"
    assert codes(in_fragment, limits=QueryLimits(max_aliases=2)) == ["TOO_MANY_ALIASES"]


def test_tokens_and_comments_are_limited_while_parsing() -> None:
    limits = QueryLimits(max_tokens=20)
    assert codes("{ viewer { id email displayName } }", limits=limits) == []
    assert codes("{ " + "__typename " * 20 + "}", limits=limits) == ["TOO_MANY_TOKENS"]
    assert codes("# hi\n" * 21 + "{ __typename }", limits=limits) == ["TOO_MANY_TOKENS"]


def test_the_token_limit_error_is_told_from_syntax_errors() -> None:
    """Pins the graphql-core messages parse_limited relies on."""
    with pytest.raises(GraphQLError) as too_many:
        parse_limited(graphql.parse, "{ a b c d }", QueryLimits(max_tokens=3))
    with pytest.raises(GraphQLError) as syntax:
        parse_limited(graphql.parse, "{ a b", QueryLimits(max_tokens=30))

    assert too_many.value.extensions == {"code": "TOO_MANY_TOKENS", "limit": 3}
    assert too_many.value.locations  # still points into the query
    assert isinstance(syntax.value, graphql.GraphQLSyntaxError)
    assert format_error(syntax.value)["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


# Cost


def test_the_cost_model_prices_lists_by_their_page_size() -> None:
    assert cost_of("{ viewer { id email } }") == 1
    assert cost_of("{ accounts(first: 50) { edges { node { owner { email } } } } }") == 200
    assert cost_of("{ accounts { edges { node { id } } } }") == 3 * 20  # the default page
    assert cost_of("{ accounts(last: 7) { totalCount } }") == 7
    assert cost_of("{ accounts(first: 100000) { totalCount } }") == 100  # at most a page
    assert cost_of('{ nodes(ids: ["a", "b", "c"]) { ... on Account { owner { id } } } }') == 6
    assert cost_of("{ viewer { roles { policies { resource } } } }") == (
        1 + UNPAGED_LIST_SIZE + UNPAGED_LIST_SIZE**2
    )


def test_a_normal_page_passes_and_a_list_inside_a_big_list_does_not() -> None:
    assert codes("{ accounts(first: 50) { edges { node { owner { email } } } } }") == []
    nested_lists = (
        "{ accounts(first: 100) { edges { node {"
        " transfers(first: 100) { edges { node { id amount } } } } } } }"
    )
    assert codes(nested_lists) == ["QUERY_TOO_COMPLEX"]


def test_the_cost_error_says_the_estimate_and_the_limit() -> None:
    preparer = DocumentPreparer(SCHEMA, QueryLimits(max_cost=10))
    (error,) = preparer.prepare("{ accounts(first: 11) { totalCount } }").errors

    assert error.extensions == {"code": "QUERY_TOO_COMPLEX", "limit": 10, "cost": 11}


def test_fragments_are_priced_where_they_are_spread() -> None:
    query = """
    query { accounts(first: 10) { edges { node { ...Owner } } } }
    fragment Owner on Account { owner { id } }
    """
    assert cost_of(query) == 40


def test_sizes_from_variables_are_priced_per_request() -> None:
    query = "query($n: Int) { accounts(first: $n) { edges { node { owner { id } } } } }"
    assert cost_of(query, {"n": 2}) == 8
    assert cost_of(query, {}) == 80  # default page
    # Not coerced, so not priced: the executor refuses it before anything runs.
    assert cost_of(query, {"n": "many"}) == 0
    assert codes(query, {"n": 100}) == []
    lists = "query($n: Int) { accounts(first: $n) { edges { node { transfers(first: $n) {"
    lists += " edges { node { id } } } } } } }"
    assert codes(lists, {"n": 10}) == []
    assert codes(lists, {"n": 100}) == ["QUERY_TOO_COMPLEX"]


def test_variable_defaults_are_priced_as_the_executor_will_use_them() -> None:
    """Finding 3: with no variables sent, ``$n: Int = 100`` used to cost the default page."""
    lists = "query($n: Int = 100) { accounts(first: $n) { edges { node { transfers(first: $n) {"
    lists += " edges { node { id } } } } } } }"
    assert codes(lists, {}) == ["QUERY_TOO_COMPLEX"]
    assert codes(lists) == ["QUERY_TOO_COMPLEX"]
    assert codes(lists, {"n": 10}) == []  # a sent value still wins over the default
    assert cost_of("query($n: Int = 7) { accounts(first: $n) { edges { node { id } } } }") == 21


def test_only_the_operation_that_runs_is_priced_with_its_own_defaults() -> None:
    document = (
        "query Small($n: Int = 1) { accounts(first: $n) { totalCount } }"
        " query Big($n: Int = 100) { accounts(first: $n) { edges { node {"
        " transfers(first: $n) { totalCount } } } } }"
    )
    preparer = DocumentPreparer(SCHEMA, DEFAULTS)
    prepared = preparer.prepare(document)
    assert prepared.valid
    assert preparer.variable_errors(prepared, {}, "Small") == []
    (error,) = preparer.variable_errors(prepared, {}, "Big")
    assert (error.extensions or {})["code"] == "QUERY_TOO_COMPLEX"


def test_a_missing_required_variable_is_left_to_the_executor() -> None:
    assert codes("query($id: ID!) { node(id: $id) { id } }", {}) == []


def test_the_length_counts_comments_and_string_literals() -> None:
    """Finding 10: a 900 KB comment or string is one token, but still work to read."""
    limits = QueryLimits(max_length=1000)
    assert codes("{ __typename } # " + "x" * 900, limits=limits) == []
    assert codes("{ __typename } # " + "x" * 1000, limits=limits) == ["QUERY_TOO_LARGE"]
    literal = '{ role(id: "' + "x" * 1000 + '") { id } }'
    assert codes(literal, limits=limits) == ["QUERY_TOO_LARGE"]


def test_a_refused_length_is_never_parsed() -> None:
    calls = Recording()
    preparer = calls.preparer()
    (error,) = preparer.prepare("{ __typename } #" + "x" * 900_000).errors
    assert error.extensions == {"code": "QUERY_TOO_LARGE", "limit": 32 * 1024}
    assert (calls.parsed, calls.validated) == ([], 0)


# Repeated fields: the field-merging check is quadratic in them


def relay_like(fragments: int) -> str:
    """One object with ``fragments`` fragments spread on it, each repeating a few fields."""
    spreads = " ".join(f"...F{i}" for i in range(fragments))
    definitions = " ".join(
        f"fragment F{i} on User {{ id email roles {{ id code }} }}" for i in range(fragments)
    )
    return f"query {{ viewer {{ id {spreads} }} }} {definitions}"


def test_a_wide_selection_set_is_refused_before_validation() -> None:
    """Finding 2: 490 ``viewer { id }`` took seconds of validation, then 'Validation aborted.'"""
    calls = Recording()
    preparer = calls.preparer()
    wide = "{ " + "viewer { id } " * 490 + "}"
    typenames = "{ " + "__typename " * 1990 + "}"
    spreads = "{ viewer { " + "...F " * 101 + "} } fragment F on User { id }"

    for query in (wide, typenames, spreads):
        (error,) = preparer.prepare(query).errors
        assert error.extensions == {"code": "TOO_MANY_SELECTIONS", "limit": 100}
    assert calls.validated == 0
    assert codes("{ " + "__typename " * 100 + "}") == []
    assert codes("{ viewer { id email } }", limits=QueryLimits(max_selections=1)) == [
        "TOO_MANY_SELECTIONS"
    ]


def test_fields_repeated_across_selection_sets_exhaust_the_merge_budget() -> None:
    """Each set is small, but 40 ``viewer`` of 40 ``id`` are 1600 ids to compare pairwise."""
    nested = "{ " + ("viewer { " + "id " * 40 + "} ") * 40 + "}"
    (error,) = DocumentPreparer(SCHEMA, DEFAULTS).prepare(nested).errors
    assert error.extensions == {"code": "QUERY_TOO_COMPLEX", "limit": 10_000}
    assert "repeats the same fields" in error.message


def test_ordinary_repetition_stays_far_within_the_merge_budget() -> None:
    assert codes("{ " + "viewer { id } " * 40 + "}") == []
    assert codes("{ " + "viewer { id } " * 99 + "}") == ["QUERY_TOO_COMPLEX"]
    assert codes(relay_like(20)) == []
    assert codes(graphql.get_introspection_query(descriptions=True)) == []
    assert codes(relay_like(20), limits=QueryLimits(max_merge_checks=100)) == ["QUERY_TOO_COMPLEX"]


def test_too_many_real_conflicts_still_abort_as_graphql_core_reports_them() -> None:
    conflicts = "{ viewer { " + " ".join(f"x: {f}" for f in ["id", "email"] * 50) + " } }"
    preparer = DocumentPreparer(SCHEMA, QueryLimits(max_aliases=1000, max_merge_checks=10**6))
    errors = preparer.prepare(conflicts).errors
    assert errors[-1].message.startswith("Too many validation errors")
    assert not any((e.extensions or {}).get("code") == "QUERY_TOO_COMPLEX" for e in errors)


def fragment_chain(levels: int) -> str:
    """``F(i)`` spreads ``F(i-1)`` twice: 2**levels copies of F0 if expanded naively."""
    fragments = ["fragment F0 on User { id email }"] + [
        f"fragment F{i} on User {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return f"{{ viewer {{ ...F{levels} }} }} " + " ".join(fragments)


def test_a_doubling_fragment_chain_is_prepared_in_linear_time() -> None:
    """Finding 1's document: every walker before execution visits a fragment once."""
    preparer = DocumentPreparer(SCHEMA, DEFAULTS)
    small, large = fragment_chain(10), fragment_chain(40)
    assert preparer.prepare(small).valid
    assert preparer.prepare(large).valid  # 2**40 expanded fields: never finishes if expanded


def test_the_cost_map_covers_every_object_field_and_no_scalar() -> None:
    prices = cost_map(SCHEMA)

    assert prices["Query"]["accounts"].size({"first": 30}) == 30
    assert prices["Query"]["nodes"].size({"ids": ["a", "b"]}) == 2
    assert prices["AccountConnection"]["edges"].size({}) == 1
    assert "balance" not in prices.get("Account", {})
    assert not any(name.startswith("__") for name in prices)


# Introspection and suggestions in production


def test_production_refuses_introspection_but_not_typename() -> None:
    assert codes("{ __schema { types { name } } }", production=True) == ["INTROSPECTION_DISABLED"]
    assert codes('{ __type(name: "User") { name } }', production=True) == ["INTROSPECTION_DISABLED"]
    assert codes("{ __typename viewer { __typename } }", production=True) == []
    assert codes("{ __schema { types { name } } }") == []


def test_production_gives_no_suggestions() -> None:
    production = DocumentPreparer(SCHEMA, QueryLimits(), introspection=False, hide_suggestions=True)
    development = DocumentPreparer(SCHEMA, QueryLimits())

    (hidden,) = production.prepare("{ viewr { id } }").errors
    (shown,) = development.prepare("{ viewr { id } }").errors

    assert "viewer" not in format_error(hidden, hide_suggestions=True)["message"]
    assert "Did you mean 'viewer'" in shown.message


def test_suggestions_are_stripped_from_any_message_in_production() -> None:
    error = GraphQLError("Value 'REED' does not exist in 'Action' enum. Did you mean 'READ'?")

    assert format_error(error, hide_suggestions=True)["message"] == (
        "Value 'REED' does not exist in 'Action' enum."
    )
    assert "READ'?" in format_error(error)["message"]


# The cache


class Recording:
    """graphql.parse and graphql.validate, counting their calls."""

    def __init__(self) -> None:
        self.parsed: list[str] = []
        self.validated = 0

    def parse(self, source: str, **options: Any) -> DocumentNode:
        self.parsed.append(source)
        return graphql.parse(source, **options)

    def validate(
        self, schema: GraphQLSchema, document: DocumentNode, *args: Any, **options: Any
    ) -> list[GraphQLError]:
        self.validated += 1
        return graphql.validate(schema, document, *args, **options)

    def preparer(self, **options: Any) -> DocumentPreparer:
        return DocumentPreparer(
            SCHEMA, QueryLimits(), parse=self.parse, validate=self.validate, **options
        )


def test_a_repeated_query_skips_parsing_and_validation() -> None:
    calls = Recording()
    preparer = calls.preparer()

    first = preparer.prepare("{ viewer { id } }")
    again = preparer.prepare("{ viewer { id } }")
    other = preparer.prepare("{ viewer { email } }")

    assert again is first
    assert (first.valid, other.valid) == (True, True)
    assert calls.parsed == ["{ viewer { id } }", "{ viewer { email } }"]
    assert calls.validated == 2
    assert (preparer.cache.hits, preparer.cache.misses) == (1, 2)


def test_invalid_documents_are_cached_as_invalid() -> None:
    calls = Recording()
    preparer = calls.preparer()

    for _ in range(3):
        syntax = preparer.prepare("{ viewer { id ")
        unknown = preparer.prepare("{ nope }")
        too_many = preparer.prepare("{ " + "__typename " * 2001 + "}")

    assert [len(p.errors) for p in (syntax, unknown, too_many)] == [1, 1, 1]
    assert len(calls.parsed) == 3
    assert calls.validated == 1  # only the one that parsed


def test_the_cache_is_bounded_by_entries_and_by_text() -> None:
    calls = Recording()
    preparer = calls.preparer(cache_entries=3, cache_characters=10_000, max_cached_length=100)

    queries = [f"{{ a{i}: __typename }}" for i in range(5)]
    for query in queries:
        preparer.prepare(query)
    assert len(preparer.cache) == 3
    assert (queries[0] in preparer.cache, queries[4] in preparer.cache) == (False, True)

    huge = "{ __typename " + " " * 200 + "}"
    preparer.prepare(huge)
    preparer.prepare(huge)
    assert huge not in preparer.cache
    assert calls.parsed.count(huge) == 2


def test_variables_do_not_defeat_the_cache() -> None:
    calls = Recording()
    preparer = calls.preparer()
    query = "query($n: Int) { accounts(first: $n) { totalCount } }"

    for n in (1, 50, 100):
        prepared = preparer.prepare(query)
        assert preparer.variable_errors(prepared, {"n": n}) == []

    assert (len(calls.parsed), calls.validated) == (1, 1)


def test_comments_and_separators_do_not_defeat_the_cache() -> None:
    """A varied comment costs a regular-expression pass, not a validation."""
    calls = Recording()
    preparer = calls.preparer()
    base = "{ " + ("viewer { " + "id " * 40 + "} ") * 40 + "}"

    variants = [base, base + " # 1", base + "\n# 2", "  " + base.replace(" ", ",  "), base + " #3"]
    refusals = {preparer.prepare(variant).errors[0].message for variant in variants}

    assert len(refusals) == 1
    assert (len(calls.parsed), calls.validated) == (1, 1)
    assert all(variant in preparer.cache for variant in variants)  # the text itself, next time
    assert len(preparer.normalized_cache) == 1


def test_the_normalized_text_keeps_strings_and_line_breaks() -> None:
    assert normalized('  { a(s: "x  # y,") }  # c\n , ') == '{ a(s: "x  # y,") }'
    assert normalized('"""a # b\n  c""" # d') == '"""a # b\n  c"""'
    assert normalized('{ a(s: "x\n y") }') == '{ a(s: "x\ny") }'  # still unterminated
    assert normalized("a # c\r\n b") == "a\nb"


GRAPHQL_TEXT = st.lists(
    st.sampled_from([*'{}()"\\#, \t\n\rab:$.\x01\ufeff\u00a0', '"""', "...", "\\u0041"]),
    max_size=30,
).map("".join)


def parsed(text: str) -> str | None:
    try:
        return graphql.print_ast(graphql.parse(text))
    except GraphQLError:
        return None


@given(GRAPHQL_TEXT)
@settings(max_examples=2000, deadline=None)
def test_a_normalized_text_parses_exactly_as_the_original(text: str) -> None:
    """So two texts with one normalized form are one document (or both refused)."""
    assert parsed(normalized(text)) == parsed(text)


@given(st.sampled_from(['{ a(s: "', '{ a(s: """', "{ a "]), GRAPHQL_TEXT, GRAPHQL_TEXT)
@settings(max_examples=2000, deadline=None)
def test_texts_around_strings_normalize_safely(start: str, middle: str, end: str) -> None:
    text = start + middle + end
    assert parsed(normalized(text)) == parsed(text)


def test_the_lru_keeps_the_recently_used_within_its_weight() -> None:
    cache = LruCache[str, int](max_entries=10, max_weight=10)
    cache.put("a", 1, weight=4)
    cache.put("b", 2, weight=4)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3, weight=4)

    assert ("a" in cache, "b" in cache, "c" in cache) == (True, False, True)
    assert cache.weight == 8
    cache.put("d", 4, weight=11)  # heavier than the whole cache: not kept
    assert "d" not in cache
    assert len(cache) == 2
    cache.put("a", 5, weight=1)
    assert (cache.get("a"), cache.weight) == (5, 5)


def test_limits_must_be_non_negative_integers() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        QueryLimits(max_depth=-1)
    with pytest.raises(ValueError, match="max_cost"):
        QueryLimits(max_cost=True)
