"""Metrics of several uvicorn workers, added up: prometheus_client's multiprocess mode.

Each worker is a process of its own (uvicorn spawns them), and a scrape
lands on any one of them. In multiprocess mode every counter and histogram
value lives in a memory-mapped file per process in one directory, and the
worker answering a scrape reads and adds up all of them. prometheus_client
chooses the mode once, when it is first imported, from the
``PROMETHEUS_MULTIPROC_DIR`` variable: :func:`prepare_multiprocess` sets it
in the supervising process before uvicorn starts the workers, which inherit
it and import prometheus_client afresh. (The supervisor imported it already,
in the ordinary mode; it records nothing.) With one worker uvicorn runs the
app in the supervisor itself, so nothing needs preparing: the ordinary
in-memory registry serves.

No ``mark_process_dead``: prometheus_client needs it only to drop the
files of gauges in a "live" mode when their process dies, and Kingdom has
no such gauge (its gauges are read at scrape time by the scraping worker).
The counts of a worker that died, or that uvicorn restarted under a new
pid, stay in its files and keep adding up, as counters must; uvicorn's
supervisor offers no hook to call it anyway. The directory is emptied at
each start, so counters start from zero with the server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from prometheus_client import values

VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(directory: Path) -> None:
    """Before uvicorn starts its workers: an empty ``directory`` for their metric files.

    Creates it if need be, removes the files of an earlier run (their
    counts would otherwise come back), and names it in ``PROMETHEUS_MULTIPROC_DIR``
    for the worker processes to inherit. Only ``*.db`` files are removed:
    nothing else in a directory the operator chose.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[VARIABLE] = str(directory.resolve())


def multiprocess_directory() -> Path | None:
    """Where this process's metric values are kept, or ``None`` when they live in memory.

    What prometheus_client decided when it was imported, not merely whether
    the variable is set now: a process that imported it before
    :func:`prepare_multiprocess` (uvicorn's supervisor, a single worker)
    keeps its values in memory and must be scraped from its own registry.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return Path(os.environ[VARIABLE])
