"""A real `videolikes serve` process on a free port, for tests of what only a server shows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from commands import VIDEOLIKES, command_env
from pg_cluster import free_port

STARTUP_TIMEOUT = 60.0


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def workers(self) -> list[int]:
        """The pids of the worker processes (none when the server is its only worker)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [
            int(child)
            for child in children
            if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes()
        ]

    def terminate_all(self) -> None:
        """SIGTERM to the server and its workers at once, as systemd stops a unit's processes."""
        os.killpg(self.process.pid, signal.SIGTERM)

    async def exit_code(self, within: float) -> int:
        return await asyncio.to_thread(self.process.wait, within)

    def log_text(self) -> str:
        return self.log.read_text()

    def json_log(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]


@contextmanager
def serving(
    database_url: str,
    log: Path,
    *,
    workers: int = 1,
    fd_limit: int | None = None,
    settings: Mapping[str, str] | None = None,
    **variables: str | None,
) -> Iterator[Server]:
    """`videolikes serve` with `settings` and `variables` as its only settings and its output
    in `log`, ready when the block starts and killed with its workers when it ends; `fd_limit`
    sets its limit of open files (soft and hard), as `ulimit -n` would."""
    variables = {**(settings or {}), **variables}
    server = _start(database_url, log, workers=workers, fd_limit=fd_limit, **variables)
    try:
        _wait_until_ready(server)
        yield server
    finally:
        _kill(server.process)


@asynccontextmanager
async def served(
    database_url: str,
    log: Path,
    *,
    workers: int = 1,
    fd_limit: int | None = None,
    **variables: str | None,
) -> AsyncIterator[Server]:
    """serving() for async tests: the waits happen off the event loop."""
    server = _start(database_url, log, workers=workers, fd_limit=fd_limit, **variables)
    try:
        await asyncio.to_thread(_wait_until_ready, server)
        yield server
    finally:
        await asyncio.to_thread(_kill, server.process)


def _start(
    database_url: str, log: Path, *, workers: int, fd_limit: int | None, **variables: str | None
) -> Server:
    def limit_open_files() -> None:
        assert fd_limit is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                VIDEOLIKES,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=command_env(database_url, **variables),
            stdout=sink,
            stderr=sink,
            preexec_fn=limit_open_files if fd_limit else None,
            # A process group of its own, so that its workers can be stopped with it.
            start_new_session=True,
        )
    return Server(process, f"http://127.0.0.1:{port}", log)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


async def kill_process_group(process: asyncio.subprocess.Process) -> None:
    """Kill a process started in a session of its own, and whatever it left running."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def _wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(trust_env=False, timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{server.log_text()}")
            try:
                if client.get(f"{server.url}/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"server not ready within {STARTUP_TIMEOUT:g} s:\n{server.log_text()}")
