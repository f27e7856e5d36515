"""Policies as plain JSON, in one canonical form shared by columns and events.

A policy becomes ``{"resource": str, "permissions": int, "selectors": [str, ...]}``
with sorted selectors, and a collection becomes a list ordered by
:attr:`Policy.sort_key`, so the same grants always serialise to the same JSON
(stable diffs, comparable payloads). Decoding goes through :class:`Policy`'s
own validation: a corrupt row raises ``Invalid`` instead of granting anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from kingdom.adapters.sql.json_text import decode_json
from kingdom.domain.access import Permission, Policy
from kingdom.domain.identity import sorted_policies


def encode_policy(policy: Policy) -> dict[str, object]:
    return {
        "resource": policy.resource,
        "permissions": int(policy.permissions),
        "selectors": sorted(policy.selectors),
    }


def encode_policies(policies: Iterable[Policy]) -> list[dict[str, object]]:
    return [encode_policy(p) for p in sorted(set(policies), key=lambda p: p.sort_key)]


def decode_policy(data: Any) -> Policy:
    if not isinstance(data, dict) or set(data) != {"resource", "permissions", "selectors"}:
        raise ValueError(f"not an encoded policy: {data!r}")
    selectors = data["selectors"]
    if not isinstance(selectors, list):
        raise ValueError(f"policy selectors must be a list: {selectors!r}")
    permissions = data["permissions"]
    if not isinstance(permissions, int) or isinstance(permissions, bool):
        raise ValueError(f"policy permissions must be an integer: {permissions!r}")
    resource = data["resource"]
    if isinstance(resource, str) and all(isinstance(selector, str) for selector in selectors):
        return _policy(resource, permissions, tuple(selectors))
    return Policy(resource, Permission(permissions), frozenset(selectors))


@lru_cache(maxsize=4096)
def _policy(resource: str, permissions: int, selectors: tuple[str, ...]) -> Policy:
    """A policy is a value: rows granting the same one (a page of users) share it,
    validated once. Bounded: only what fails validation is not kept."""
    return Policy(resource, Permission(permissions), frozenset(selectors))


def decode_policies(data: Any) -> list[Policy]:
    if not isinstance(data, list):
        raise ValueError(f"encoded policies must be a list: {data!r}")
    return [decode_policy(item) for item in data]


@lru_cache(maxsize=1024)
def policies_of_text(text: str) -> tuple[Policy, ...]:
    """Stored policies (a column's JSON text) as a sorted tuple, decoded once per distinct text.

    Users mostly hold the same few grants (their own account, themselves), so a
    page of them, or the viewer request after request, decodes each text once
    instead of once per row. The answer is immutable, so sharing it is safe;
    text that does not decode raises and is not kept.
    """
    return sorted_policies(decode_policies(decode_json(text)))
