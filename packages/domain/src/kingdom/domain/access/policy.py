"""A grant: some actions on some instances of one resource.

The instances are named by selectors: ``"*"`` (every instance), ``"@own"``
(those the caller owns) or instance ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kingdom.domain.access.permissions import Permission
from kingdom.domain.shared import Invalid

ALL_INSTANCES = "*"
"""The selector meaning every instance of a resource, present and future."""

OWN_INSTANCES = "@own"
"""The selector meaning the instances the caller owns, whoever the caller is.

A grant on ``@own`` is relative: the same policy lets each holder act on
their own accounts (and a user on itself, since a user owns itself), so
nobody has to grant a newcomer the ids of what it creates. Which instance
belongs to whom is for the caller of :func:`~kingdom.domain.access.authorize`
to say (``owner=``); the policy only names the relation.
"""

KEYWORD_PREFIX = "@"
"""Selectors starting with it are keywords, never instance ids (only ``@own`` exists)."""

MAX_SELECTOR_LENGTH = 128

# fullmatch, not match with "$": "$" also matches before a trailing newline,
# which would let "users\n" through as a resource name.
_RESOURCE = re.compile(r"[a-z][a-z0-9_.-]{0,62}")


def validate_resource(resource: object) -> str:
    """Return ``resource`` if it is a valid resource name, else raise Invalid.

    Resource names are short lower-case identifiers (``accounts``,
    ``billing.invoices``) so they are cheap in a token and cannot be confused
    with a selector.
    """
    if not isinstance(resource, str) or not _RESOURCE.fullmatch(resource):
        raise Invalid(f"invalid resource name {resource!r}")
    return resource


def validate_selector(selector: object) -> str:
    """Return ``selector`` if it is ``"*"``, ``"@own"`` or a plausible instance id, else raise Invalid.

    Ids are opaque to access control, but they end up in tokens, logs and
    error messages, so whitespace, control characters and unbounded length
    are refused. A leading ``@`` marks a keyword: an id cannot start with one,
    so a keyword added later can never be mistaken for an id granted before.
    """
    if (
        not isinstance(selector, str)
        or not 0 < len(selector) <= MAX_SELECTOR_LENGTH
        or not selector.isprintable()
        or any(ch.isspace() for ch in selector)
    ):
        raise Invalid(f"invalid selector {selector!r}")
    if selector.startswith(KEYWORD_PREFIX) and selector != OWN_INSTANCES:
        raise Invalid(f"unknown selector keyword {selector!r} (the only one is {OWN_INSTANCES!r})")
    return selector


def validate_permissions(permissions: object) -> Permission:
    """Return ``permissions`` as a :class:`Permission` if it grants at least one action.

    Plain ints are accepted (and converted) so a policy read back from storage
    equals the one that was written; bools are not, although they are ints.
    """
    if (
        not isinstance(permissions, int)
        or isinstance(permissions, bool)
        or not Permission.NONE < permissions <= Permission.ALL
    ):
        raise Invalid(f"invalid permissions {permissions!r}: expected 1..{int(Permission.ALL)}")
    return Permission(permissions)


@dataclass(frozen=True)
class Policy:
    """``permissions`` on each of ``selectors`` of ``resource``.

    A policy is a value: two policies with the same fields are the same grant,
    which is what lets users and roles hold them in sets and lets a grant be
    revoked by restating it. It is kept exactly as given (``{"*", "acc-1"}``
    stays as it is); removing redundancy is the job of
    :func:`~kingdom.domain.access.context.compile_policies`.
    """

    resource: str
    permissions: Permission
    selectors: frozenset[str]

    def __post_init__(self) -> None:
        validate_resource(self.resource)
        object.__setattr__(self, "permissions", validate_permissions(self.permissions))
        selectors: object = self.selectors
        # A bare string is iterable too; frozenset("acc-1") would grant "a", "c"...
        if isinstance(selectors, str) or not isinstance(selectors, set | frozenset):
            raise Invalid(f"selectors must be a set of strings, not {selectors!r}")
        if not selectors:
            raise Invalid(f"a policy on {self.resource!r} needs at least one selector")
        for selector in selectors:
            validate_selector(selector)
        object.__setattr__(self, "selectors", frozenset(selectors))

    @classmethod
    def of(cls, resource: str, permissions: Permission, *selectors: str) -> Policy:
        """Build a policy; without selectors it covers every instance (``"*"``)."""
        return cls(resource, permissions, frozenset(selectors or (ALL_INSTANCES,)))

    @property
    def sort_key(self) -> tuple[str, tuple[str, ...], int]:
        """A total order for policies (frozensets only compare as subsets).

        Use it wherever policies are listed (events, API output, storage) so
        the same grants always come out in the same order.
        """
        return (self.resource, tuple(sorted(self.selectors)), int(self.permissions))
