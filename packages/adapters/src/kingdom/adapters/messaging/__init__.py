"""Outgoing messages: e-mail and events for other systems."""
