"""Identity use cases: registration, login, passwords, roles and policies."""

from kingdom.services.identity.handlers import COMMAND_HANDLERS

__all__ = ["COMMAND_HANDLERS"]
