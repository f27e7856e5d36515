"""The resource names handlers authorise against; policies refer to the same strings."""

from typing import Final

USERS: Final = "users"
ROLES: Final = "roles"
ACCOUNTS: Final = "accounts"
