"""Ledger use cases: accounts and transfers."""

from kingdom.services.ledger.handlers import COMMAND_HANDLERS

__all__ = ["COMMAND_HANDLERS"]
