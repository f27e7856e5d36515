"""Kingdom's background workers: consumers of the external message bus."""
