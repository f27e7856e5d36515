"""What a newly registered user may do before any administrator looks at it.

A newcomer should be able to go from registering to moving money on its own:
open accounts and use them, and read (and update) its own user. ``"@own"``
grants say exactly that, relative to whoever holds them, so one default
serves every user and grants nobody anything over anyone else's instances.

The composition root passes the defaults to the registration handler as the
``new_user_policies`` dependency; a deployment that wants newcomers to wait
for an administrator passes ``()``.
"""

from __future__ import annotations

from typing import Final

from kingdom.domain.access import OWN_INSTANCES, Permission, Policy
from kingdom.services.resources import ACCOUNTS, USERS

NEW_USER_POLICIES: Final = (
    # Open accounts for oneself (CREATE on "@own": the new account's owner
    # must be the caller), then deposit, withdraw, transfer from, read, close.
    Policy.of(ACCOUNTS, Permission.ALL, OWN_INSTANCES),
    # A user owns itself: see oneself in `users`/`user`/`node`, and manage
    # one's own grants (never beyond what one holds: the escalation rule).
    Policy.of(USERS, Permission.READ | Permission.UPDATE, OWN_INSTANCES),
)
"""The default grants of a new user (the ``new_user_policies`` dependency)."""
