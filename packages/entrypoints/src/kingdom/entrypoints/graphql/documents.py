"""Parsing and validating documents once: the fast path's cache.

Clients send the same few query texts over and over. A
:class:`DocumentPreparer` parses and validates a text once (spec rules, the
query limits, introspection in production) and keeps the outcome, valid or
not, in a bounded LRU keyed by the text: a repeated query skips both steps
(validation alone is about a millisecond for a small query), and a repeated
invalid one is refused just as fast. Each preparer has one set of limits, so
the text alone is the key.

A text seen for the first time is looked up once more by its
:func:`normalized` form (comments dropped, separators collapsed), so a
client that varies only a comment or whitespace, to dodge the cache or by
accident, pays one linear pass rather than another validation. The two
caches are apart so that a flood of such variants evicts only variants.

The cache is bounded twice: by entries, and by the total length of the texts
it holds, because a syntax tree (with the source locations error messages
need) takes about a hundred bytes per character of query. Texts longer than
:data:`MAX_CACHED_QUERY_LENGTH` are prepared every time.

The one check that cannot be cached is the cost of a document whose list
sizes come from variables (``accounts(first: $n)``): that is rerun on each
request with the values execution will use (the request's variables, and
the defaults of those it leaves out), by :meth:`DocumentPreparer.variable_errors`.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Generic, TypeVar

import graphql
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OverlappingFieldsCanBeMergedRule,
    get_operation_ast,
    specified_rules,
)
from graphql.execution.values import get_variable_values

from kingdom.entrypoints.graphql.cost import cost_errors, cost_limit
from kingdom.entrypoints.graphql.limits import (
    NoIntrospection,
    NoNulCharacters,
    ParseFunction,
    QueryLimits,
    alias_limit,
    depth_limit,
    merge_check_limit,
    parse_limited,
    selection_errors,
)
from kingdom.entrypoints.graphql.plans import Plan, Unplannable

ValidateFunction = Callable[..., list[GraphQLError]]
"""``graphql.validate`` or a stand-in with its signature (tests count calls)."""

DEFAULT_CACHE_ENTRIES: Final = 1000
DEFAULT_CACHE_CHARACTERS: Final = 256 * 1024
"""Total query text the cache holds: some 25 MB of syntax trees at most."""
MAX_CACHED_QUERY_LENGTH: Final = 32 * 1024
"""Real queries are a few kilobytes at most; a giant one would evict many."""


@dataclass(frozen=True, slots=True)
class Operation:
    name: str | None
    type: str
    """``query`` or ``mutation``."""
    root_fields: int = 1
    """Root fields it selects (fragments followed, ``__typename`` not counted), up to 2:
    a query with more than one reads from one snapshot."""


@dataclass(frozen=True, slots=True)
class PreparedDocument:
    """A query text, parsed and validated: either a document to run, or its errors."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    operations: tuple[Operation, ...] = ()
    cost_uses_variables: bool = False
    """The cost depends on the request's variables, so it is checked per request."""
    plans: dict[str | None, Plan | None] = field(default_factory=dict, compare=False)
    """Execution plans by operation name (``None``: unplannable), built on first use."""

    @property
    def valid(self) -> bool:
        return not self.errors

    def plan(self, schema: GraphQLSchema, operation_name: str | None) -> Plan | None:
        """The operation's :class:`~.plans.Plan`, or ``None`` if graphql-core must run it.

        Built on the event loop, the first time a request runs the operation;
        cached documents keep theirs.
        """
        if operation_name in self.plans:
            return self.plans[operation_name]
        plan: Plan | None = None
        if self.document is not None:
            try:
                plan = Plan.build(schema, self.document, operation_name)
            except Unplannable:
                plan = None
        self.plans[operation_name] = plan
        return plan

    def operation(self, name: str | None) -> Operation | None:
        """The operation a request runs: the named one, or the document's only one."""
        if name is None:
            return self.operations[0] if len(self.operations) == 1 else None
        return next((op for op in self.operations if op.name == name), None)


class DocumentPreparer:
    """Parses and validates query texts for one schema and one set of limits, with a cache."""

    def __init__(
        self,
        schema: GraphQLSchema,
        limits: QueryLimits,
        *,
        introspection: bool = True,
        hide_suggestions: bool = False,
        cache_entries: int = DEFAULT_CACHE_ENTRIES,
        cache_characters: int = DEFAULT_CACHE_CHARACTERS,
        max_cached_length: int = MAX_CACHED_QUERY_LENGTH,
        parse: ParseFunction = graphql.parse,
        validate: ValidateFunction = graphql.validate,
    ) -> None:
        self.schema = schema
        self.limits = limits
        self._hide_suggestions = hide_suggestions
        self._parse = parse
        self._validate = validate
        self._max_cached_length = max_cached_length
        # Built once: graphql-core instantiates each rule per validation.
        self._cost_rule = cost_limit(schema, limits.max_cost)
        merging = merge_check_limit(limits.max_merge_checks)
        rules: list[type[ASTValidationRule]] = [
            *(
                merging if rule is OverlappingFieldsCanBeMergedRule else rule
                for rule in specified_rules
            ),
            depth_limit(limits.max_depth),
            alias_limit(limits.max_aliases),
            NoNulCharacters,
        ]
        if not introspection:
            rules.append(NoIntrospection)
        self._rules: tuple[type[ASTValidationRule], ...] = tuple(rules)
        self._rules_with_cost = (*rules, self._cost_rule)
        self.cache = LruCache[str, PreparedDocument](cache_entries, cache_characters)
        self.normalized_cache = LruCache[str, PreparedDocument](cache_entries, cache_characters)

    def prepare(self, query: str) -> PreparedDocument:
        """``query`` parsed and validated (from the cache if it, or its normalized form, was seen lately)."""
        prepared = self.cached(query)
        if prepared is None:
            prepared = self.prepare_uncached(query)
            self.remember(query, prepared)
        return prepared

    def cached(self, query: str) -> PreparedDocument | None:
        """``query`` as prepared lately, found by its text or its normalized text, if it was."""
        prepared = self.cache.get(query)
        if prepared is not None or len(query) > self._max_cached_length:
            return prepared
        prepared = self.normalized_cache.get(normalized(query))
        if prepared is not None:
            self.cache.put(query, prepared, weight=len(query))
        return prepared

    def remember(self, query: str, prepared: PreparedDocument) -> None:
        """Cache ``prepared`` under ``query`` and its normalized form (unless too long to keep)."""
        if len(query) <= self._max_cached_length:
            key = normalized(query)
            self.normalized_cache.put(key, prepared, weight=len(key))
            self.cache.put(query, prepared, weight=len(query))

    def variable_errors(
        self,
        prepared: PreparedDocument,
        variables: Mapping[str, Any] | None,
        operation_name: str | None = None,
    ) -> list[GraphQLError]:
        """The cost check of a document whose cost depends on its variables.

        Measured with the values the execution will use: ``variables`` as
        coerced, defaults filled in. Variables that do not coerce are not
        checked here: the executor refuses them (``BAD_USER_INPUT``) before
        anything runs.
        """
        if not prepared.cost_uses_variables or prepared.document is None:
            return []
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            return []  # the executor says which operation is missing
        values = get_variable_values(
            self.schema, operation.variable_definitions or (), dict(variables or {}), max_errors=1
        )
        if isinstance(values, list):
            return []
        return cost_errors(
            self._cost_rule, self.schema, operation, prepared.document, values.coerced
        )

    def prepare_uncached(self, query: str) -> PreparedDocument:
        """``query`` parsed and validated; a refused one keeps its errors, not its syntax tree.

        Touches no cache, so it may run on another thread than the caches' users.
        """
        try:
            document = parse_limited(self._parse, query, self.limits)
        except GraphQLError as error:
            return PreparedDocument(None, _detached([error]))
        operations = tuple(
            Operation(
                definition.name.value if definition.name else None,
                definition.operation.value,
                root_fields(document, definition),
            )
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        )
        uses_variables = any(
            definition.variable_definitions
            for definition in document.definitions
            if isinstance(definition, OperationDefinitionNode)
        )
        errors = selection_errors(document, self.limits.max_selections)
        if not errors:
            rules: Collection[type[ASTValidationRule]] = (
                self._rules if uses_variables else self._rules_with_cost
            )
            errors = self._validate(
                self.schema, document, rules, hide_suggestions=self._hide_suggestions
            )
        if errors:
            return PreparedDocument(None, _detached(errors), operations)
        return PreparedDocument(document, (), operations, uses_variables)


def _detached(errors: Iterable[GraphQLError]) -> tuple[GraphQLError, ...]:
    """``errors`` without their links into the syntax tree and the query text.

    A refusal is cached like a document, and a hostile client sends many: an
    error's nodes and source would keep a whole tree (a hundred bytes per
    character of query) alive in the cache, and every full garbage collection
    walks all of it. The locations clients see are already computed.
    """
    for error in errors:
        error.nodes = None
        error.source = None
        error.positions = None
        error.__traceback__ = error.__context__ = error.__cause__ = None
    return tuple(errors)


# Comments, and runs of separators (whitespace, commas, byte order marks),
# outside string literals: the parts of a text that mean nothing to GraphQL.
# Strings are matched first and kept verbatim, with possessive loops (no
# backtracking) and block strings before plain ones, as the lexer reads them.
# A separator run becomes one space, or one newline if it held a line break,
# so an unterminated string stays unterminated, and no two tokens are joined.
_STRING_OR_IGNORED: Final = re.compile(
    r'("""(?:\\"""|[^"]|"(?!""))*+"""|"(?:[^"\\\n\r]|\\.)*+")'
    r"|(?:[ \t\n\r,\ufeff]|#[^\n\r\ud800-\udfff]*)+"
)


def normalized(query: str) -> str:
    """``query`` without comments and with each run of separators collapsed.

    Parses exactly as ``query`` does (the same document, or an error), which
    is what makes it a safe cache key; one pass of a regular expression.
    """
    return _STRING_OR_IGNORED.sub(_keep_strings, query).strip(" \n")


def _keep_strings(match: re.Match[str]) -> str:
    string = match.group(1)
    if string is not None:
        return string
    return "\n" if "\n" in match.group(0) or "\r" in match.group(0) else " "


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A least-recently-used cache bounded by entries and by total weight.

    Not thread-safe: one per event loop, used without awaiting in between.
    """

    def __init__(self, max_entries: int, max_weight: int) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.weight = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: K) -> bool:
        return key in self._entries

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        if weight > self.max_weight or self.max_entries <= 0:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.weight -= old[1]
        self._entries[key] = (value, weight)
        self.weight += weight
        while len(self._entries) > self.max_entries or self.weight > self.max_weight:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.weight -= evicted


def root_fields(document: DocumentNode, operation: OperationDefinitionNode, most: int = 2) -> int:
    """How many root fields ``operation`` selects, counting up to ``most``.

    Fragments (spread or inline) are followed, each named one once, so the
    walk is linear in the document; ``__typename`` reads nothing and is not
    counted. Directives are not evaluated: ``@skip`` may make it count one too
    many, which only costs a snapshot that was not needed.
    """
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    followed: set[str] = set()
    pending = list(operation.selection_set.selections)
    count = 0
    while pending and count < most:
        selection = pending.pop()
        if isinstance(selection, FieldNode):
            count += selection.name.value != "__typename"
        elif isinstance(selection, InlineFragmentNode):
            pending.extend(selection.selection_set.selections)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in followed:
            followed.add(selection.name.value)
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                pending.extend(fragment.selection_set.selections)
    return count
