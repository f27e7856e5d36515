"""Kingdom's service layer: ports, the message bus and command handlers (domain only)."""
