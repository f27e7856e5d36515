"""How big a query may be, checked before anything executes.

GraphQL lets one small request ask for a great deal of work. Every document
is measured, and refused (nothing resolved; HTTP 400, or 200 for an
``application/json`` client, see :mod:`.endpoint`) when it goes over a
limit, each with its own ``extensions.code`` and the limit it broke in
``extensions.limit``:

- ``QUERY_TOO_LARGE``: characters of query text, comments and string
  literals included, checked before anything reads it;
- ``TOO_MANY_TOKENS``: lexical tokens (and, separately, comments), counted
  while parsing, so an oversized document is not even built;
- ``TOO_MANY_SELECTIONS``: fields and fragments in one selection set,
  counted in one pass before validation, so the validation rules (one of
  them quadratic in a selection set) only ever see modest ones;
- ``QUERY_TOO_DEEP``: nesting of fields, fragments followed;
- ``TOO_MANY_ALIASES``: aliases in the document (each alias can run a field
  again, e.g. a login, under a new name);
- ``QUERY_TOO_COMPLEX``: the cost estimate of :mod:`.cost`, or a selection
  repeating the same fields so often that checking they can be merged (the
  one validation rule whose work grows with the square of the fields) would
  take more than ``max_merge_checks`` steps.

Every check is linear in the document: each walker visits a fragment once,
however often it is spread.

Production also refuses introspection (``INTROSPECTION_DISABLED``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    DocumentNode,
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OverlappingFieldsCanBeMergedRule,
    SelectionSetNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
)
from graphql.validation.validate import ValidationAbortedError

from kingdom.entrypoints.graphql.errors import (
    BAD_USER_INPUT,
    INTROSPECTION_DISABLED,
    QUERY_TOO_COMPLEX,
    QUERY_TOO_DEEP,
    QUERY_TOO_LARGE,
    TOO_MANY_ALIASES,
    TOO_MANY_SELECTIONS,
    TOO_MANY_TOKENS,
)


@dataclass(frozen=True)
class QueryLimits:
    """The limits one server applies to every document (``KINGDOM_MAX_QUERY_*``)."""

    max_depth: int = 10
    """Levels of fields: ``{ viewer { id } }`` is 2 deep."""
    max_cost: int = 5000
    """See :mod:`kingdom.entrypoints.graphql.cost` for what a unit of cost is."""
    max_tokens: int = 2000
    """Lexical tokens; comments are limited to the same number, separately."""
    max_aliases: int = 15
    max_length: int = 32 * 1024
    """Characters of query text: a long comment or string literal is work too."""
    max_selections: int = 100
    """Fields and fragments in one selection set (a large object type has a few dozen)."""
    max_merge_checks: int = 10_000
    """Steps the field-merging check may take (graphql-core's own budget is 500,000,
    half a second). A query with two dozen fragments spread on one object needs a
    few thousand; ``{ viewer { id } viewer { id } ... }`` 50 times, about 6,000."""

    def __post_init__(self) -> None:
        for name in (
            "max_depth",
            "max_cost",
            "max_tokens",
            "max_aliases",
            "max_length",
            "max_selections",
            "max_merge_checks",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def limit_error(message: str, code: str, limit: int, **extra: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, "limit": limit, **extra})


# Parsing


ParseFunction = Callable[..., DocumentNode]
"""``graphql.parse`` or a stand-in with its signature (tests count calls)."""

_TOO_MANY: Final = "Document contains more than"
_TOO_DEEP: Final = "Document is nested too deeply"


def parse_limited(parse: ParseFunction, query: str, limits: QueryLimits) -> DocumentNode:
    """Parse ``query`` unless it is too long, giving up once it has too many tokens.

    Raises :class:`GraphQLError`: a syntax error as graphql-core reports it
    (``GRAPHQL_PARSE_FAILED``), or a limit error with its own code when the
    parser stopped (or never started) because of a limit rather than a mistake.
    """
    if len(query) > limits.max_length:
        raise limit_error(
            f"The query is longer than {limits.max_length} characters"
            " (send values as variables).",
            QUERY_TOO_LARGE,
            limits.max_length,
        )
    max_tokens = limits.max_tokens
    try:
        return parse(query, max_lexical_tokens=max_tokens, max_comments=max_tokens)
    except GraphQLSyntaxError as error:
        # graphql-core reports its limits as syntax errors; only the message
        # tells them apart (pinned by a unit test against the installed version).
        if _TOO_MANY in error.message:
            raise _located(
                limit_error(
                    f"The query has more than {max_tokens} tokens.", TOO_MANY_TOKENS, max_tokens
                ),
                error,
            ) from None
        if _TOO_DEEP in error.message:
            raise _located(
                GraphQLError(
                    "The query is nested too deeply to parse.",
                    extensions={"code": QUERY_TOO_DEEP},
                ),
                error,
            ) from None
        raise


def _located(error: GraphQLError, where: GraphQLSyntaxError) -> GraphQLError:
    return GraphQLError(
        error.message,
        source=where.source,
        positions=where.positions,
        extensions=error.extensions,
    )


def selection_errors(document: DocumentNode, max_selections: int) -> list[GraphQLError]:
    """The selection sets of ``document`` with more than ``max_selections`` selections.

    One pass over the syntax tree, each selection set once (fragments are
    not followed: each definition is walked where it stands), before the
    validation rules run. At most one error: the first set found.
    """
    pending: list[SelectionSetNode] = [
        definition.selection_set
        for definition in document.definitions
        if isinstance(definition, ExecutableDefinitionNode)
    ]
    while pending:
        selection_set = pending.pop()
        if len(selection_set.selections) > max_selections:
            return [
                GraphQLError(
                    f"A selection set holds {len(selection_set.selections)} fields and"
                    f" fragments; at most {max_selections} are allowed.",
                    selection_set,
                    extensions={"code": TOO_MANY_SELECTIONS, "limit": max_selections},
                )
            ]
        for selection in selection_set.selections:
            inner = getattr(selection, "selection_set", None)
            if inner is not None:
                pending.append(inner)
    return []


# Validation rules. graphql-core instantiates each rule class per validation,
# so the limit is baked into a subclass once, at start-up.


class _DepthLimit(ValidationRule):
    max_depth: int = 0

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._fragment_depths: dict[str, int] = {}
        self._visiting: set[str] = set()

    def enter_operation_definition(self, node: Any, *_: Any) -> None:
        if self._depth(node.selection_set, self.max_depth + 1) > self.max_depth:
            self.report_error(
                GraphQLError(
                    f"The query is nested deeper than {self.max_depth} levels.",
                    node,
                    extensions={"code": QUERY_TOO_DEEP, "limit": self.max_depth},
                )
            )

    def _depth(self, selection_set: SelectionSetNode | None, cap: int) -> int:
        """Levels of fields below ``selection_set``, or ``cap`` if there are at least that many.

        The cap bounds the walk whatever the document. A fragment's depth does
        not depend on where it is spread, so it is measured once. A fragment
        cycle counts as nothing here: ``NoFragmentCyclesRule`` refuses it.
        ``__Type.ofType`` adds no level: its chain is only as long as the
        schema's type wrappers (``[[X!]!]!``), and GraphiQL's own schema
        query nests it nine times, which would otherwise need a limit of 15.
        """
        if selection_set is None or cap <= 0:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value == "ofType":
                    depth = self._depth(selection.selection_set, cap)
                else:
                    depth = 1 + self._depth(selection.selection_set, cap - 1)
            elif isinstance(selection, InlineFragmentNode):
                depth = self._depth(selection.selection_set, cap)
            elif isinstance(selection, FragmentSpreadNode):
                depth = min(self._fragment_depth(selection.name.value), cap)
            else:  # pragma: no cover - graphql-core has no other selections
                depth = 0
            deepest = max(deepest, depth)
            if deepest >= cap:
                break
        return deepest

    def _fragment_depth(self, name: str) -> int:
        known = self._fragment_depths.get(name)
        if known is not None:
            return known
        fragment: FragmentDefinitionNode | None = self.context.get_fragment(name)
        if fragment is None or name in self._visiting:
            return 0
        self._visiting.add(name)
        try:
            depth = self._depth(fragment.selection_set, self.max_depth + 1)
        finally:
            self._visiting.discard(name)
        self._fragment_depths[name] = depth
        return depth


def depth_limit(max_depth: int) -> type[ValidationRule]:
    """A rule refusing operations nested deeper than ``max_depth`` fields."""
    return type("DepthLimit", (_DepthLimit,), {"max_depth": max_depth})


class _AliasLimit(ValidationRule):
    max_aliases: int = 0

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._count = 0

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.alias is not None:
            self._count += 1

    def leave_document(self, node: DocumentNode, *_: Any) -> None:
        if self._count > self.max_aliases:
            self.report_error(
                GraphQLError(
                    f"The query uses {self._count} aliases; at most {self.max_aliases} are allowed.",
                    extensions={"code": TOO_MANY_ALIASES, "limit": self.max_aliases},
                )
            )


def alias_limit(max_aliases: int) -> type[ValidationRule]:
    """A rule refusing documents with more than ``max_aliases`` aliased fields.

    Every alias in the document counts, in operations and fragments alike:
    that is what a client wrote, and what an alias-batching attack needs.
    """
    return type("AliasLimit", (_AliasLimit,), {"max_aliases": max_aliases})


class _BudgetedMerging(OverlappingFieldsCanBeMergedRule):
    max_checks: int = 0

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.rule_context.remaining_complexity_budget = self.max_checks

    def enter_selection_set(self, *args: Any) -> None:
        try:
            super().enter_selection_set(*args)
        except ValidationAbortedError:
            if self.rule_context.remaining_complexity_budget >= 0:
                raise  # too many errors, not too much work: graphql-core's own abort
            # Still an abort (validate() stops and keeps it), now with a code and a limit.
            raise ValidationAbortedError(
                "The query repeats the same fields too often to check that they can be"
                " merged: select each field once per object.",
                extensions={"code": QUERY_TOO_COMPLEX, "limit": self.max_checks},
            ) from None


def merge_check_limit(max_checks: int) -> type[ValidationRule]:
    """graphql-core's ``OverlappingFieldsCanBeMergedRule`` with a budget of ``max_checks``.

    The rule compares every pair of fields that land on the same response
    key, so its work grows with the square of repeated fields:
    ``{ viewer { id } }`` 490 times, 7 KB, costs seconds. graphql-core
    meters that work and aborts past a budget; this sets the budget and
    gives the abort a code. Use it in place of the rule in ``specified_rules``.
    """
    return type("MergeCheckLimit", (_BudgetedMerging,), {"max_checks": max_checks})


INTROSPECTION_FIELDS: Final[Mapping[str, str]] = {"__schema": "schema", "__type": "type"}


class NoIntrospection(ValidationRule):
    """Refuses ``__schema`` and ``__type`` (``__typename`` reveals nothing and stays)."""

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.name.value in INTROSPECTION_FIELDS:
            self.report_error(
                GraphQLError(
                    "Introspection is disabled on this server.",
                    node,
                    extensions={"code": INTROSPECTION_DISABLED},
                )
            )


class NoNulCharacters(ValidationRule):
    """Refuses string literals holding NUL (``"\\u0000"``).

    PostgreSQL cannot store NUL in text and fails the statement; caught at
    the edge, it is the client's error (BAD_USER_INPUT) on every backend
    instead of a driver error deep in a handler. Variables are checked where
    the request body is read.
    """

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.report_error(
                GraphQLError(
                    "Text cannot contain NUL characters.",
                    node,
                    extensions={"code": BAD_USER_INPUT},
                )
            )
