"""What a query selects below a field, so resolvers read only what will be shown.

A resolver that knows its caller never asks for ``totalCount`` can skip the
COUNT (and without ``edges { cursor }``, the signing of a cursor per row); one whose users are shown without ``roleCodes`` or ``roles`` can skip
their role codes. The answer errs on the side of reading: a field counts as
selected wherever it appears, under any fragment, type condition or
``@skip``/``@include``, so a "no" is always safe.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, Final

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
)

from kingdom.services.ports import PageRequest

USER_ROLE_FIELDS: Final = frozenset({"roleCodes", "roles"})
"""The ``User`` fields that need the user's role codes."""


def selects(info: GraphQLResolveInfo[Any], names: Collection[str], *path: str) -> bool:
    """Whether any of ``names`` is selected below this field, after following ``path``.

    ``selects(info, {"totalCount"})`` asks about the field's own selection;
    ``selects(info, USER_ROLE_FIELDS, "edges", "node")`` about its nodes'.
    Each step visits a fragment once however often it is spread, so the
    work is linear in the document: a fragment spreading another twice,
    twenty levels deep, would otherwise be expanded a million times.
    """
    # Asked once per row (an account's owner: "with roles?"): the answer
    # depends only on the document, so the request remembers it. The nodes'
    # ids are stable while the request runs (its document is alive).
    memo: dict[Any, bool] | None = getattr(getattr(info, "context", None), "selections", None)
    key = None
    if memo is not None:
        asked = names if isinstance(names, frozenset) else frozenset(names)
        key = (tuple(map(id, info.field_nodes)), asked, path)
        known = memo.get(key)
        if known is not None:
            return known
    found = _selects(info, names, path)
    if memo is not None:
        memo[key] = found
    return found


def _selects(info: GraphQLResolveInfo[Any], names: Collection[str], path: tuple[str, ...]) -> bool:
    fields: Iterable[FieldNode] = info.field_nodes
    for step in path:
        fields = [field for field in _children(fields, info.fragments) if field.name.value == step]
    return any(field.name.value in names for field in _children(fields, info.fragments))


def as_selected(info: GraphQLResolveInfo[Any], request: PageRequest) -> PageRequest:
    """``request``, asking only for what this connection field shows.

    The total only with ``totalCount``; every edge's cursor only with
    ``edges { cursor }``; the first and last only with ``pageInfo``'s
    ``startCursor`` or ``endCursor`` (each is an HMAC to sign).
    """
    return replace(
        request,
        count_total=selects(info, {"totalCount"}),
        edge_cursors=selects(info, {"cursor"}, "edges"),
        end_cursors=selects(info, {"startCursor", "endCursor"}, "pageInfo"),
    )


def _children(
    fields: Iterable[FieldNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    """The fields selected directly below ``fields``, fragments expanded once each."""
    seen: set[str] = set()
    for field in fields:
        if field.selection_set is not None:
            yield from _fields(field.selection_set, fragments, seen)


def _fields(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: set[str],
) -> Iterator[FieldNode]:
    """The fields of one selection set, expanding each fragment not in ``seen`` (then adding it).

    A fragment already expanded adds nothing new: the answer is a union.
    ``seen`` also stops a fragment cycle, which validation refuses anyway.
    """
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            fragment = fragments.get(name)
            if fragment is not None:
                yield from _fields(fragment.selection_set, fragments, seen)
