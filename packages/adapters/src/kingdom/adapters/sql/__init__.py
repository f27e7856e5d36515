"""Shared SQL infrastructure: engines, metadata, the unit of work and the outbox."""
