"""A real `videolikes serve` process on a free port, for tests of what only a server shows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from commands import VIDEOLIKES, command_env

STARTUP_TIMEOUT = 60.0


@dataclass
class Server:
    process: asyncio.subprocess.Process
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
        async with asyncio.timeout(within):
            return await self.process.wait()

    def log_text(self) -> str:
        return self.log.read_text()

    def json_log(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def served(
    database_url: str,
    log: Path,
    *,
    workers: int = 1,
    fd_limit: int | None = None,
    **variables: str | None,
) -> AsyncIterator[Server]:
    """`videolikes serve` with `variables` as settings, its output in `log`; `fd_limit` sets its
    limit of open files (soft and hard), as `ulimit -n` would."""

    def limit_open_files() -> None:
        assert fd_limit is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

    port = free_port()
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            VIDEOLIKES,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            env=command_env(database_url, **variables),
            stdout=sink,
            stderr=sink,
            preexec_fn=limit_open_files if fd_limit else None,
            # A process group of its own, so that its workers can be stopped with it.
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        await _wait_until_ready(server)
        yield server
    finally:
        await kill_process_group(process)


async def kill_process_group(process: asyncio.subprocess.Process) -> None:
    """Kill a process started in a session of its own, and whatever it left running."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


async def _wait_until_ready(server: Server) -> None:
    async with asyncio.timeout(STARTUP_TIMEOUT), httpx.AsyncClient() as client:
        while True:
            if server.process.returncode is not None:
                raise AssertionError(f"server exited early:\n{server.log_text()}")
            try:
                if (await client.get(f"{server.url}/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
