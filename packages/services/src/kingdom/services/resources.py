"""The resources handlers authorise against: the one list of them.

Policies name the same strings, the GraphQL schema's ``Resource`` enum is
built from :data:`RESOURCES` (a test holds the SDL to it), and so is every
"all resources" grant.
"""

from typing import Final

USERS: Final = "users"
ROLES: Final = "roles"
ACCOUNTS: Final = "accounts"
AUDIT: Final = "audit"
"""The audit trail's entries (instances by event message id). Only READ means
anything: the workers write the trail, never the API. Entries belong to
nobody, so ``"@own"`` on audit grants nothing; READ on ``"*"`` reads it all."""

RESOURCES: Final = (USERS, ROLES, ACCOUNTS, AUDIT)
"""Every resource Kingdom protects; a policy on any other name grants nothing here."""

SELF_OWNED: Final = frozenset({USERS})
"""Resources whose instances own themselves: a user is its own owner, so an
``"@own"`` grant on users reaches the caller's own user and nobody else's.
Accounts are owned by their ``owner_id``; roles and audit entries by nobody,
so ``"@own"`` on them grants nothing."""


def owner_from_id(resource: str, instance_id: str) -> str | None:
    """The owner of an instance when its id alone tells (a user's is itself), else ``None``."""
    return instance_id if resource in SELF_OWNED else None
