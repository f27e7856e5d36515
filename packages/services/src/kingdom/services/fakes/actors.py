"""Actors for tests: who is calling, with exactly the policies a test names."""

from __future__ import annotations

from kingdom.domain.access import Actor, Permission, Policy, compile_policies
from kingdom.services.resources import RESOURCES


def actor(*policies: Policy, user_id: str | None = "actor") -> Actor:
    """An actor holding ``policies`` (none: a logged-in user with no grants)."""
    return Actor(user_id, compile_policies(policies))


def superuser(user_id: str = "root") -> Actor:
    """An actor allowed everything on every resource the handlers know."""
    return actor(*(Policy.of(r, Permission.ALL) for r in RESOURCES), user_id=user_id)
