"""The compiled form of a subject's policies: compact, canonical, token-sized.

Users and roles accumulate policies over time, with overlaps (a role grants
READ on every account, the user also holds READ on one of them). Deciding
access only needs the union, so :func:`compile_policies` folds the policies
into ``{resource: {selector: flags}}`` and drops every specific grant that
the ``"*"`` entry of the same resource already implies. The result is small
enough to embed in an access token, which spares every request a database
lookup, and canonical, so equal grants compare, hash and encode identically.

An ``"@own"`` entry is compacted like an id's: what ``"*"`` grants it needs
not repeat, since the caller's own instances are among all instances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from kingdom.domain.access.permissions import Permission
from kingdom.domain.access.policy import (
    ALL_INSTANCES,
    OWN_INSTANCES,
    Policy,
    validate_permissions,
    validate_resource,
)
from kingdom.domain.shared import Invalid

ENCODING_VERSION: Final = 2
"""The version :meth:`PolicyContext.encode` writes; bump it when the meaning of the map changes.

Decoders refuse versions they do not know, so a consumer with an older
``kingdom-domain`` refuses a token it would misread instead of guessing.
Version 2 added the ``"@own"`` selector (a version-1 reader would take it
for an instance id); version 1, which cannot hold it, is still read.
"""

DECODABLE_VERSIONS: Final = frozenset({1, ENCODING_VERSION})

_Grants = dict[str, dict[str, Permission]]


class PolicyContext:
    """What a subject may do, as ``{resource: {selector: Permission}}``.

    Immutable and compared by value. Build one with :func:`compile_policies`,
    :meth:`decode` or :meth:`empty`; the constructor compiles too, so no
    instance can hold a redundant or non-canonical map.
    """

    __slots__ = ("_grants", "_key")

    _grants: _Grants
    _key: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]

    def __init__(self, policies: Iterable[Policy] = ()) -> None:
        merged: _Grants = {}
        for policy in policies:
            by_selector = merged.setdefault(policy.resource, {})
            for selector in policy.selectors:
                by_selector[selector] = (
                    by_selector.get(selector, Permission.NONE) | policy.permissions
                )
        grants: _Grants = {}
        for resource in sorted(merged):
            by_selector = merged[resource]
            everywhere = by_selector.get(ALL_INSTANCES, Permission.NONE)
            compact: dict[str, Permission] = {}
            for selector in sorted(by_selector):
                flags = by_selector[selector]
                if selector != ALL_INSTANCES:
                    flags &= ~everywhere  # what "*" grants needs no repeating
                if flags:
                    compact[selector] = flags
            if compact:
                grants[resource] = compact
        self._grants = grants
        self._key = tuple(
            (resource, tuple((sel, int(flags)) for sel, flags in by_selector.items()))
            for resource, by_selector in grants.items()
        )

    @classmethod
    def empty(cls) -> PolicyContext:
        """The context that grants nothing (anonymous callers, disabled users)."""
        return _EMPTY

    def permissions_for(
        self, resource: str, selector: str | None = None, *, owned: bool = False
    ) -> Permission:
        """The actions granted on one instance, or on every instance.

        ``selector=None`` (or ``"*"``) asks what is granted on *all* instances,
        i.e. only what the ``"*"`` entry grants; an id adds that instance's own
        grant to it, and ``owned=True`` (the instance is the caller's) adds
        what ``"@own"`` grants. ``selector="@own"`` asks what the caller may
        do to whatever it owns.
        """
        by_selector = self._grants.get(resource, {})
        flags = by_selector.get(ALL_INSTANCES, Permission.NONE)
        if selector is not None and selector != ALL_INSTANCES:
            flags |= by_selector.get(selector, Permission.NONE)
        if owned:
            flags |= by_selector.get(OWN_INSTANCES, Permission.NONE)
        return flags

    def instances_with(self, resource: str, permission: Permission) -> frozenset[str]:
        """The ids listed for ``resource`` on which every action of ``permission`` is granted.

        Only instances named in a grant are known here; when ``"*"`` alone
        grants ``permission`` every instance has it, and ``"@own"`` is not an
        id, so ask :meth:`permissions_for` about both first. Together they
        answer "which instances may I list?" without exposing the internal map.
        """
        everywhere = self.permissions_for(resource)
        return frozenset(
            selector
            for selector, flags in self._grants.get(resource, {}).items()
            if selector not in (ALL_INSTANCES, OWN_INSTANCES) and permission in flags | everywhere
        )

    def covers(self, policy: Policy) -> bool:
        """Whether this context already grants everything ``policy`` grants.

        Used to stop privilege escalation: a subject may only hand out what it
        holds. A ``"*"`` selector is covered only by a ``"*"`` grant; holding
        every existing instance is not the same as holding future ones. An
        ``"@own"`` selector is covered by ``"@own"`` or ``"*"``: handing out
        "your own" is handing out what the grantor holds over its own. An id
        is never covered by ``"@own"``, which says nothing about whose it is.
        """
        return all(
            policy.permissions in self.permissions_for(policy.resource, selector)
            for selector in policy.selectors
        )

    def policies(self) -> tuple[Policy, ...]:
        """The compact policies this context stands for, in a stable order.

        Selectors of one resource with identical flags share one policy, so
        ``compile_policies(ctx.policies()) == ctx`` and the tuple is as short
        as the map allows.
        """
        result: list[Policy] = []
        for resource, by_selector in self._grants.items():
            by_flags: dict[Permission, set[str]] = {}
            for selector, flags in by_selector.items():
                by_flags.setdefault(flags, set()).add(selector)
            result.extend(
                Policy(resource, flags, frozenset(selectors))
                for flags, selectors in by_flags.items()
            )
        return tuple(sorted(result, key=lambda policy: policy.sort_key))

    def encode(self) -> dict[str, object]:
        """A JSON-safe, canonical dict: ``{"v": 2, "p": {resource: {selector: int}}}``.

        Keys are in sorted order, so ``json.dumps`` of equal contexts gives
        equal strings (stable token bytes, cache keys, test snapshots). The
        one-letter keys and integer flags keep a token small.
        """
        return {
            "v": ENCODING_VERSION,
            "p": {
                resource: {selector: int(flags) for selector, flags in by_selector.items()}
                for resource, by_selector in self._grants.items()
            },
        }

    @classmethod
    def decode(cls, data: object) -> PolicyContext:
        """Rebuild a context from :meth:`encode` output, e.g. a token claim.

        Anything that is not a well-formed encoding of a known version raises
        :class:`~kingdom.domain.shared.Invalid` (never ``KeyError`` or
        ``TypeError``), so callers need exactly one ``except``. Well-formed but
        non-canonical input (a redundant entry) is accepted and compacted.
        Version 1 (tokens issued before ownership existed) is read too; an
        ``"@own"`` in it is refused, since version 1 had no such selector.
        """
        if not isinstance(data, Mapping) or set(data) != {"v", "p"}:
            raise Invalid('a policy context must be a mapping with exactly the keys "v" and "p"')
        version = data["v"]
        # True == 1.0 == 1 in Python, but only an int is a version.
        if (
            not isinstance(version, int)
            or isinstance(version, bool)
            or version not in DECODABLE_VERSIONS
        ):
            raise Invalid(f"unsupported policy context version {version!r}")
        grants = data["p"]
        if not isinstance(grants, Mapping):
            raise Invalid('a policy context\'s "p" must be a mapping of resources')
        policies: list[Policy] = []
        for resource, by_selector in grants.items():
            validate_resource(resource)
            if not isinstance(by_selector, Mapping):
                raise Invalid(f"the grants of {resource!r} must be a mapping of selectors")
            for selector, flags in by_selector.items():
                if version == 1 and selector == OWN_INSTANCES:
                    raise Invalid(f"{OWN_INSTANCES!r} needs policy context version 2")
                policies.append(
                    Policy(resource, validate_permissions(flags), frozenset({selector}))
                )
        return cls(policies)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PolicyContext):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"PolicyContext({self.encode()['p']!r})"

    def __setattr__(self, name: str, value: object) -> None:
        # Only __init__ may set the two slots, and only once: a context is
        # shared between requests and must not change under anyone's feet.
        if hasattr(self, name):
            raise AttributeError(f"PolicyContext is immutable; cannot set {name!r}")
        super().__setattr__(name, value)


def compile_policies(policies: Iterable[Policy]) -> PolicyContext:
    """Merge ``policies`` into their compact, canonical :class:`PolicyContext`.

    Order and duplicates do not matter; the result grants exactly what the
    policies grant together.
    """
    return PolicyContext(policies)


_EMPTY: Final = PolicyContext()
