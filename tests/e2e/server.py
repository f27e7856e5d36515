"""Runs the real server as a child process for end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_server(
    data_dir: Path, extra_env: Mapping[str, str] | None = None
) -> Iterator[RunningServer]:
    """Start ``kingdom.entrypoints.server`` under uvicorn and wait until it is live."""
    port = free_port()
    env = {
        "KINGDOM_DATA_DIR": str(data_dir),
        **os.environ,
        # The test's interpreter finds first-party code through sys.path
        # entries that a plain child interpreter would not have.
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "KINGDOM_HOST": "127.0.0.1",
        "KINGDOM_PORT": str(port),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "kingdom.entrypoints.server"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_live(base_url, process)
        yield RunningServer(base_url=base_url, process=process)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_live(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become live within 60 s")
