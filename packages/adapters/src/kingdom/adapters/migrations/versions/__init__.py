"""Alembic revisions, loaded by file path (Alembic skips this file)."""
