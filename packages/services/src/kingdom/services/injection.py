"""Dependency injection by parameter name, decided once when the bus is built.

A handler is a plain async function: its first parameter is the message, the
others name what it needs (``uow``, ``clock``, ``hasher``...). Matching names
against the dependency map happens here, at construction, so a typo fails at
start-up with a clear message instead of on the first request, and handling a
message costs no signature inspection at all.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kingdom.domain.shared import Message
from kingdom.services.ports import UnitOfWork

Handler = Callable[..., Awaitable[Any]]
"""``async def handler(message, **dependencies) -> result``."""

UOW: str = "uow"
"""The parameter name that receives a fresh unit of work for every invocation."""


class DependencyError(TypeError):
    """A handler asks for something the composition root does not provide."""


@dataclass(frozen=True)
class BoundHandler:
    """A handler with its dependencies resolved, except the per-call unit of work."""

    handler: Handler
    dependencies: Mapping[str, object]
    wants_uow: bool

    @property
    def name(self) -> str:
        return getattr(self.handler, "__qualname__", repr(self.handler))

    async def __call__(self, message: Message, uow: UnitOfWork | None) -> Any:
        if self.wants_uow:
            return await self.handler(message, uow=uow, **self.dependencies)
        return await self.handler(message, **self.dependencies)


def bind(handler: Handler, dependencies: Mapping[str, object]) -> BoundHandler:
    """Resolve every parameter of ``handler`` after the first one, by name.

    A parameter with a default may be left out of ``dependencies`` (a tunable
    such as a token lifetime); any other unknown name raises
    :class:`DependencyError`.
    """
    if not inspect.iscoroutinefunction(handler):
        raise DependencyError(f"handler {_name(handler)} must be an async function")
    if UOW in dependencies:
        raise DependencyError(f"{UOW!r} is made per message by the unit-of-work factory")
    parameters = list(inspect.signature(handler).parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise DependencyError(f"handler {_name(handler)} must take the message first")
    resolved: dict[str, object] = {}
    wants_uow = False
    for parameter in parameters[1:]:
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise DependencyError(
                f"handler {_name(handler)} cannot take *{parameter.name}: "
                "dependencies are matched by name"
            )
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise DependencyError(
                f"handler {_name(handler)}: dependency {parameter.name!r} must be "
                "passable by name"
            )
        if parameter.name == UOW:
            wants_uow = True
        elif parameter.name in dependencies:
            resolved[parameter.name] = dependencies[parameter.name]
        elif parameter.default is inspect.Parameter.empty:
            known = ", ".join(sorted([UOW, *dependencies]))
            raise DependencyError(
                f"handler {_name(handler)} needs {parameter.name!r}, which is not among "
                f"the dependencies ({known})"
            )
    return BoundHandler(handler, resolved, wants_uow)


def _name(handler: object) -> str:
    module = getattr(handler, "__module__", "?")
    return f"{module}.{getattr(handler, '__qualname__', repr(handler))}"
