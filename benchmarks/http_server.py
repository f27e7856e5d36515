"""Runs a server under test as a child process and reads its CPU time from /proc.

The server is a process tree (uvicorn's supervisor and its spawned workers),
so its CPU time is the ``utime + stime`` of every live process in the tree,
read from ``/proc/<pid>/stat`` (threads, such as aiosqlite's, are included
in their process). The same file gives the database's CPU time when
PostgreSQL runs on this machine (processes named ``postgres``) and, from
``/proc/stat``, what the whole machine spent, so the benchmark can show how
much CPU went to anything else (other programs make figures noisy).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TICK = 1 / os.sysconf("SC_CLK_TCK")
_ESTABLISHED = "01"
"""A TCP state in /proc/net/tcp."""
STARTED = "Application startup complete"
"""uvicorn logs this once per worker when its lifespan startup is done."""


@dataclass(frozen=True)
class ProcessStat:
    pid: int
    name: str
    parent: int
    cpu: float
    """utime + stime, in seconds."""


def _read_stat(pid: int) -> ProcessStat | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None  # exited in between
    # The name is in parentheses and may hold spaces: split around the last ")".
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # After the name: state, ppid, ... utime is field 14 and stime field 15 of stat(5).
    return ProcessStat(pid, name, int(fields[1]), (int(fields[11]) + int(fields[12])) * TICK)


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def all_processes() -> list[ProcessStat]:
    stats = (_read_stat(int(entry)) for entry in os.listdir("/proc") if entry.isdigit())
    return [stat for stat in stats if stat is not None]


def tree_cpu(root: int, processes: Sequence[ProcessStat]) -> dict[int, float]:
    """CPU seconds of ``root`` and each of its live descendants, by pid."""
    children: dict[int, list[ProcessStat]] = {}
    for stat in processes:
        children.setdefault(stat.parent, []).append(stat)
    found = {stat.pid: stat for stat in processes}
    result: dict[int, float] = {}
    pending = [root]
    while pending:
        pid = pending.pop()
        if pid in found:
            result[pid] = found[pid].cpu
        pending.extend(child.pid for child in children.get(pid, ()))
    return result


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (the ``cpu`` line of /proc/stat)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) * TICK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    workers: int

    def cpu(self, processes: Sequence[ProcessStat]) -> dict[int, float]:
        return tree_cpu(self.process.pid, processes)

    def worker_pids(self, processes: Sequence[ProcessStat]) -> list[int]:
        """The processes serving requests: uvicorn's children, or the server itself alone."""
        if self.workers == 1:
            return [self.process.pid]
        children = (s.pid for s in processes if s.parent == self.process.pid)
        # Not multiprocessing's resource tracker, which is a child too.
        return sorted(pid for pid in children if b"spawn_main" in cmdline(pid))

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def spread(self, ports: Sequence[int]) -> list[int] | None:
        """The connections (client ports) to open again so each worker serves its share.

        uvicorn's workers accept from one shared socket, and a burst of new
        connections mostly lands on whichever worker wakes first: with a few
        long-lived keep-alive connections, one worker could serve them all
        while the other idles, and two workers would measure as one. A load
        balancer spreads connections in production; this stands in for it.
        ``None`` while some connection is not accepted yet.
        """
        workers = self.worker_pids(all_processes())
        if len(workers) < 2:
            return []
        owners = connection_owners(self.port, workers)
        if any(port not in owners for port in ports):
            return None
        share = -(-len(ports) // len(workers))  # rounded up
        excess: list[int] = []
        for worker in workers:
            held = [port for port in ports if owners[port] == worker]
            excess += held[share:]
        return excess


def connection_owners(server_port: int, pids: Sequence[int]) -> dict[int, int]:
    """Which of ``pids`` holds the server end of each connection to ``server_port``, by client port.

    /proc/net/tcp maps the connection (local and remote port) to a socket
    inode; /proc/<pid>/fd maps the inode to the process that accepted it.
    """
    client_ports: dict[int, int] = {}
    with open("/proc/net/tcp") as table:
        next(table)  # the header
        for line in table:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if state == _ESTABLISHED and int(local.rsplit(":", 1)[1], 16) == server_port:
                client_ports[inode] = int(remote.rsplit(":", 1)[1], 16)
    owners: dict[int, int] = {}
    for pid in pids:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{descriptor}")
            except OSError:
                continue
            if link.startswith("socket:["):
                port = client_ports.get(int(link[8:-1]))
                if port is not None:
                    owners[port] = pid
    return owners


@contextmanager
def serve(
    module: str, env: Mapping[str, str], workers: int, log: Path, host: str = "127.0.0.1"
) -> Iterator[Server]:
    """Start ``python -m module`` with ``KINGDOM_*`` settings; stop it on exit."""
    port = free_port()
    full_env = {
        **os.environ,
        # Child interpreters find first-party code (and, under a pex, the
        # third-party wheels) through the same sys.path as this one.
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        **env,
        "KINGDOM_HOST": host,
        "KINGDOM_PORT": str(port),
        "KINGDOM_WORKERS": str(workers),
    }
    with log.open("wb") as sink:
        # A file, not a pipe: the access log grows by a line per request and
        # must neither block the server nor cost this process a reader.
        process = subprocess.Popen(
            [sys.executable, "-m", module], env=full_env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(process, port, log, workers)
    try:
        _wait_until_ready(server, host)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn drains and stops its workers
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _live(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(f"GET /health/live HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _wait_until_ready(server: Server, host: str) -> None:
    """Live on the port, and (when uvicorn says so) every worker started."""
    deadline = time.monotonic() + 90
    while not _live(host, server.port):
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.process.args!r} exited with {server.process.returncode}:\n"
                + server.output()
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer within 90 s:\n{server.output()}")
        time.sleep(0.1)
    # The first live worker answers the probe while the others may still be
    # importing; measuring then would count one worker as two.
    soon = time.monotonic() + 30
    while server.output().count(STARTED) < server.workers and time.monotonic() < soon:
        time.sleep(0.1)
    if server.output().count(STARTED) < server.workers:
        print(
            f"  (could not confirm that all {server.workers} workers started: "
            f"no {STARTED!r} lines; relying on the warm-up)",
            file=sys.stderr,
        )
