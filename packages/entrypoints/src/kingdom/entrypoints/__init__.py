"""Kingdom's outermost ring: the composition root, the ASGI app and the CLI.

This is the only ring that reads the environment (``KINGDOM_*`` settings)
and builds adapters; everything below receives what it needs as arguments.
"""
