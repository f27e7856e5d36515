"""The decision: may this context perform this action on this resource?

Reads and writes are answered differently on purpose. A write targets a
known instance (or "any instance" for a create), so the answer is yes or
:class:`AccessDenied`. A read is usually a listing, and refusing a listing
because one row is off-limits would be wrong; instead the caller gets a
:class:`ReadScope` to filter its query with.

Ownership is a relation between the caller and an instance, which only
whoever has the instance (or its owner id) at hand can judge: so
:func:`authorize` takes the ``caller`` and the instance's ``owner``, and a
read scope carries the caller as ``owner`` for queries to filter on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

from kingdom.domain.access.context import PolicyContext
from kingdom.domain.access.permissions import Permission
from kingdom.domain.access.policy import ALL_INSTANCES, OWN_INSTANCES
from kingdom.domain.shared import Forbidden

_ACTIONS = (Permission.READ, Permission.CREATE, Permission.UPDATE, Permission.DELETE)


@dataclass(frozen=True)
class ReadScope:
    """Which instances of a resource may be read: all, these ids, and/or those of an owner.

    An empty scope means the read is denied; callers typically answer with an
    empty page rather than an error, which also avoids revealing what exists.
    ``owner`` adds every instance owned by that user (the caller, through an
    ``"@own"`` grant): a query turns it into ``owner_id = :owner``. ``ids``
    and ``owner`` are always empty when ``all`` is true, so equal scopes
    compare equal.
    """

    all: bool
    ids: frozenset[str] = frozenset()
    owner: str | None = None

    def __post_init__(self) -> None:
        if self.owner == "":
            raise ValueError("a scope's owner is a user id or None, not ''")
        object.__setattr__(self, "ids", frozenset() if self.all else frozenset(self.ids))
        if self.all:
            object.__setattr__(self, "owner", None)

    @classmethod
    def everything(cls) -> ReadScope:
        return cls(all=True)

    @classmethod
    def nothing(cls) -> ReadScope:
        return cls(all=False)

    @classmethod
    def owned_by(cls, owner: str) -> ReadScope:
        """The instances ``owner`` owns, and no others."""
        return cls(all=False, owner=owner)

    @property
    def denied(self) -> bool:
        return not self.all and not self.ids and self.owner is None

    def allows(self, instance_id: str, owner: str | None = None) -> bool:
        """Whether the instance ``instance_id``, owned by ``owner`` if known, is in scope.

        Without its owner an instance is judged by its id alone, so an owned
        instance may be missed: a query that cannot name owners up front
        filters by ``owner`` itself (see :attr:`owner`).
        """
        return (
            self.all or instance_id in self.ids or (self.owner is not None and owner == self.owner)
        )


class AccessDenied(Forbidden):
    """The context does not grant ``action`` on ``resource`` (``selector``: which instance).

    The fields are kept apart from the message so entrypoints can log or
    report them in a structured way. ``selector`` is ``None`` when the action
    concerned every instance or a new one.
    """

    def __init__(self, resource: str, action: Permission, selector: str | None = None) -> None:
        verb = (action.name or str(int(action))).lower()
        target = resource if selector is None else f"{resource} {selector!r}"
        super().__init__(f"not allowed to {verb} {target}")
        self.resource = resource
        self.action = action
        self.selector = selector

    def __reduce__(self) -> tuple[type[AccessDenied], tuple[str, Permission, str | None]]:
        # Exceptions pickle as type(*args) and args holds only the message;
        # rebuild from the fields instead (process pools, task queues).
        return (type(self), (self.resource, self.action, self.selector))


@overload
def authorize(
    context: PolicyContext,
    resource: str,
    action: Literal[Permission.READ],
    selector: str | None = None,
    *,
    caller: str | None = None,
    owner: str | None = None,
) -> ReadScope: ...


@overload
def authorize(
    context: PolicyContext,
    resource: str,
    action: Literal[Permission.CREATE, Permission.UPDATE, Permission.DELETE],
    selector: str | None = None,
    *,
    caller: str | None = None,
    owner: str | None = None,
) -> Literal[True]: ...


@overload
def authorize(
    context: PolicyContext,
    resource: str,
    action: Permission,
    selector: str | None = None,
    *,
    caller: str | None = None,
    owner: str | None = None,
) -> ReadScope | Literal[True]: ...


def authorize(
    context: PolicyContext,
    resource: str,
    action: Permission,
    selector: str | None = None,
    *,
    caller: str | None = None,
    owner: str | None = None,
) -> ReadScope | Literal[True]:
    """Decide one action on ``resource``; ``selector`` names an instance, if any.

    ``caller`` is the user asking (whose ``context`` it is) and ``owner`` the
    owner of the instance concerned, when known: ``"@own"`` grants apply
    exactly when both are given and equal. A caller of ``None`` (anonymous,
    or an operator acting as nobody) owns nothing.

    - ``READ`` returns a :class:`ReadScope`. Without a selector (a listing):
      everything if ``"*"`` grants READ, otherwise the ids granted READ plus,
      with an ``"@own"`` READ grant, the caller's own instances. With a
      selector: ``{selector}`` if granted (``owner`` counts); if only an
      ``"@own"`` grant could allow it and ``owner`` is unknown, the caller's
      own instances (look the selector up within them); else nothing. It
      never raises for lack of access.
    - ``CREATE``/``UPDATE``/``DELETE`` return ``True`` or raise
      :class:`AccessDenied`. Without a selector (bulk changes, or creating an
      instance that has no id yet) only ``"*"`` will do, or ``"@own"`` when
      ``owner`` (the new instance's owner) is the caller.

    ``action`` must be exactly one of the four actions: a compound like
    ``READ | UPDATE`` has no single answer, so it is a programming error
    (``ValueError``), not a denial; so is ``"@own"`` as the selector (it is
    no instance: pass the instance's owner) and an ``owner`` for a listing.
    A ``selector`` of ``"*"`` means the same as ``None``.
    """
    action = _single(action)
    selector = _instance(selector)
    owned = caller is not None and owner == caller
    granted = context.permissions_for(resource, selector, owned=owned)
    if action is Permission.READ:
        if selector is None and owner is not None:
            raise ValueError("a listing has no owner: pass owner= with a selector")
        if action in granted:
            return (
                ReadScope.everything()
                if selector is None
                else ReadScope(False, frozenset({selector}))
            )
        # Whose instances "@own" lets the caller read: nobody's without a caller.
        reader = caller if action in context.permissions_for(resource, owned=True) else None
        if selector is None:
            return ReadScope(False, context.instances_with(resource, action), owner=reader)
        if reader is not None and owner is None:
            return ReadScope.owned_by(reader)
        return ReadScope.nothing()
    if action not in granted:
        raise AccessDenied(resource, action, selector)
    return True


def precheck(
    context: PolicyContext,
    resource: str,
    action: Permission,
    selector: str | None = None,
    *,
    caller: str | None = None,
) -> None:
    """Refuse a write that no owner of the instance could make allowed.

    For a gate that runs before the instance is loaded (a GraphQL directive),
    when its owner is not known yet: it raises :class:`AccessDenied` unless
    ``"*"`` or the selector's own grant allows ``action``, or an ``"@own"``
    grant would if the instance were the caller's. Passing it grants nothing:
    whoever loads the instance must :func:`authorize` with its owner. Reads
    are never refused (``ValueError``): :func:`authorize` scopes them.
    """
    action = _single(action)
    if action is Permission.READ:
        raise ValueError("precheck() is for writes; authorize() scopes reads")
    selector = _instance(selector)
    if action in context.permissions_for(resource, selector):
        return
    if caller is not None and action in context.permissions_for(resource, owned=True):
        return
    raise AccessDenied(resource, action, selector)


def _single(action: Permission) -> Permission:
    if action not in _ACTIONS:
        raise ValueError(f"authorize() needs exactly one action, got {action!r}")
    return Permission(action)


def _instance(selector: str | None) -> str | None:
    """The instance a selector names: ``None`` for every instance (``"*"`` too)."""
    if selector == OWN_INSTANCES:
        raise ValueError(f"{OWN_INSTANCES!r} names no instance: pass the instance's owner")
    return None if selector == ALL_INSTANCES else selector
