"""Selection look-ahead: linear in the document, whatever its fragments do."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import graphql
from graphql import FieldNode, FragmentDefinitionNode, GraphQLResolveInfo, OperationDefinitionNode

from kingdom.entrypoints.graphql.selection import selects


class CountingFragments(Mapping[str, FragmentDefinitionNode]):
    """The document's fragments, counting how often a resolver looks one up."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self.lookups = 0

    def __getitem__(self, name: str) -> FragmentDefinitionNode:
        self.lookups += 1
        return self._fragments[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fragments)

    def __len__(self) -> int:
        return len(self._fragments)


@dataclass
class FakeInfo:
    """The two parts of ``GraphQLResolveInfo`` that look-ahead reads."""

    field_nodes: list[FieldNode]
    fragments: CountingFragments


def info_for(query: str) -> FakeInfo:
    """The resolve info of the operation's first root field."""
    document = graphql.parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = cast(FieldNode, operation.selection_set.selections[0])
    return FakeInfo([root], CountingFragments(fragments))


def ask(info: FakeInfo, names: set[str], *path: str) -> bool:
    return selects(cast(GraphQLResolveInfo[Any], info), names, *path)


def chain(levels: int, leaf: str = "id email") -> str:
    fragments = [f"fragment F0 on User {{ {leaf} }}"] + [
        f"fragment F{i} on User {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    ]
    return f"{{ viewer {{ ...F{levels} }} }} " + " ".join(fragments)


def test_a_doubling_fragment_chain_is_walked_once_per_fragment() -> None:
    """Finding 1: F(i) spreads F(i-1) twice; expanding it naively is 2**40 lookups."""
    info = info_for(chain(40))

    assert ask(info, {"email"}) is True
    assert ask(info, {"roleCodes"}) is False
    assert info.fragments.lookups <= 2 * 41


def test_fragments_are_followed_below_a_path_and_under_inline_fragments() -> None:
    query = """
    { accounts { ...Page } }
    fragment Page on AccountConnection { edges { ... on AccountEdge { ...Node } } }
    fragment Node on AccountEdge { node { owner { roles { id } } } }
    """
    info = info_for(query)

    assert ask(info, {"owner"}, "edges", "node") is True
    assert ask(info, {"totalCount"}) is False
    assert ask(info, {"roles"}, "edges", "node", "owner") is True


def test_a_fragment_spread_under_two_paths_counts_under_both() -> None:
    query = """
    { accounts { edges { ...Cursor } a: edges { ...Cursor node { id } } } }
    fragment Cursor on AccountEdge { cursor }
    """
    info = info_for(query)

    assert ask(info, {"cursor"}, "edges") is True
    assert ask(info, {"id"}, "edges", "node") is True


@dataclass
class FakeContext:
    selections: dict[Any, bool]


@dataclass
class RememberingInfo(FakeInfo):
    """Resolve info in a request whose context remembers what was asked."""

    context: FakeContext


def test_a_request_asks_each_question_of_its_document_once() -> None:
    """A page asks about its owners' roles once per row: the walk happens for the first row."""
    plain = info_for(chain(5))
    info = RememberingInfo(plain.field_nodes, plain.fragments, FakeContext({}))

    answers = [ask(info, {"email"}) for _ in range(50)]
    walked = info.fragments.lookups

    assert answers == [True] * 50
    assert walked <= 6
    assert ask(info, {"roleCodes"}) is False  # another question: walked again
    assert info.fragments.lookups > walked
