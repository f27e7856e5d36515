"""Ledger persistence: accounts and transfers in SQL."""
