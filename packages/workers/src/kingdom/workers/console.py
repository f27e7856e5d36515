"""Logging for the workers' command-line processes (poller, relay): one text line per record."""

from __future__ import annotations

import logging
import sys


def log_to_stderr() -> None:
    """Send ``kingdom.*`` records at INFO and above to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("kingdom")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
