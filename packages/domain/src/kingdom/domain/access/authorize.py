"""The decision: may this context perform this action on this resource?

Reads and writes are answered differently on purpose. A write targets a
known instance (or "any instance" for a create), so the answer is yes or
:class:`AccessDenied`. A read is usually a listing, and refusing a listing
because one row is off-limits would be wrong; instead the caller gets a
:class:`ReadScope` to filter its query with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

from kingdom.domain.access.context import PolicyContext
from kingdom.domain.access.permissions import Permission
from kingdom.domain.access.policy import ALL_INSTANCES
from kingdom.domain.shared import Forbidden

_ACTIONS = (Permission.READ, Permission.CREATE, Permission.UPDATE, Permission.DELETE)


@dataclass(frozen=True)
class ReadScope:
    """Which instances of a resource may be read: all of them, or these ids.

    An empty scope means the read is denied; callers typically answer with an
    empty page rather than an error, which also avoids revealing what exists.
    ``ids`` is always empty when ``all`` is true, so equal scopes compare equal.
    """

    all: bool
    ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", frozenset() if self.all else frozenset(self.ids))

    @classmethod
    def everything(cls) -> ReadScope:
        return cls(all=True)

    @classmethod
    def nothing(cls) -> ReadScope:
        return cls(all=False)

    @property
    def denied(self) -> bool:
        return not self.all and not self.ids

    def allows(self, instance_id: str) -> bool:
        return self.all or instance_id in self.ids


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
) -> ReadScope: ...


@overload
def authorize(
    context: PolicyContext,
    resource: str,
    action: Literal[Permission.CREATE, Permission.UPDATE, Permission.DELETE],
    selector: str | None = None,
) -> Literal[True]: ...


@overload
def authorize(
    context: PolicyContext,
    resource: str,
    action: Permission,
    selector: str | None = None,
) -> ReadScope | Literal[True]: ...


def authorize(
    context: PolicyContext,
    resource: str,
    action: Permission,
    selector: str | None = None,
) -> ReadScope | Literal[True]:
    """Decide one action on ``resource``; ``selector`` names an instance, if any.

    - ``READ`` returns a :class:`ReadScope`: everything if ``"*"`` grants READ,
      otherwise the ids granted READ; with a ``selector``, just ``{selector}``
      or nothing. It never raises for lack of access.
    - ``CREATE``/``UPDATE``/``DELETE`` return ``True`` or raise
      :class:`AccessDenied`. Without a selector (bulk changes, or creating an
      instance that has no id yet) only a ``"*"`` grant will do.

    ``action`` must be exactly one of the four actions: a compound like
    ``READ | UPDATE`` has no single answer, so it is a programming error
    (``ValueError``), not a denial. A ``selector`` of ``"*"`` means the same
    as ``None``.
    """
    if action not in _ACTIONS:
        raise ValueError(f"authorize() needs exactly one action, got {action!r}")
    action = Permission(action)
    if selector == ALL_INSTANCES:
        selector = None
    granted = context.permissions_for(resource, selector)
    if action is Permission.READ:
        if selector is not None:
            return ReadScope(
                all=False, ids=frozenset({selector}) if action in granted else frozenset()
            )
        if action in granted:
            return ReadScope.everything()
        return ReadScope(all=False, ids=context.instances_with(resource, action))
    if action not in granted:
        raise AccessDenied(resource, action, selector)
    return True
