"""Runs the real server as a child process for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]
    _lines: list[bytes] = field(default_factory=list)

    def stop(self) -> str:
        """Ctrl-C the server, wait for it, and return everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)
        return self.output()

    def output(self) -> str:
        return b"".join(self._lines).decode()

    def _drain(self) -> None:
        # Read continuously: a server that logs every request would otherwise
        # fill the pipe and block.
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.append(line)


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
    server = RunningServer(base_url=f"http://127.0.0.1:{port}", process=process)
    drain = threading.Thread(target=server._drain, daemon=True)
    drain.start()
    try:
        _wait_until_live(server)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=30)


def _wait_until_live(server: RunningServer) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            time.sleep(0.2)  # let the drain thread collect the last words
            raise RuntimeError(
                f"server exited with {server.process.returncode}:\n{server.output()}"
            )
        try:
            if httpx.get(f"{server.base_url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become live within 60 s")
