"""The schema's owner: Alembic migrations, applied with :mod:`.runner`."""
