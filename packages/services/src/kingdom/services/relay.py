"""The outbox relay: committed events leave through here, and only through here (to be written)."""
