"""Who is asking: the caller of a command, as the domain sees it."""

from __future__ import annotations

from dataclasses import dataclass

from kingdom.domain.access.context import PolicyContext


@dataclass(frozen=True)
class Actor:
    """A caller and what it may do.

    The context travels with the actor (typically decoded from its access
    token) so handlers decide access without loading the user's roles.
    ``user_id`` is ``None`` for anonymous callers, who hold the empty context.
    """

    user_id: str | None
    context: PolicyContext

    @classmethod
    def anonymous(cls) -> Actor:
        return cls(None, PolicyContext.empty())

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None
