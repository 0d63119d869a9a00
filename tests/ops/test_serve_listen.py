"""`videolikes serve` on an address someone already listens on: one line, a non-zero exit."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest
from commands import VIDEOLIKES, command_env
from pg_cluster import free_port
from served import kill_process_group, served

# uvicorn's exit status for a server that could not start.
STARTUP_FAILURE = 3


async def _serve_until_it_exits(port: int, workers: int, database_url: str) -> tuple[int, str]:
    """(exit status, stderr) of a `serve` expected to stop by itself, before any worker starts."""
    process = await asyncio.create_subprocess_exec(
        VIDEOLIKES,
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        env=command_env(database_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(20):
            _, errors = await process.communicate()
    except TimeoutError:
        raise AssertionError(f"serve kept running on the busy port {port}") from None
    finally:
        await kill_process_group(process)
    assert process.returncode is not None
    return process.returncode, errors.decode()


def _refusal(port: int) -> str:
    return f"cannot listen on 127.0.0.1:{port}: address already in use\n"


async def test_a_second_serve_on_the_port_of_a_running_one_stops_before_any_worker(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with served(sqlite_url, tmp_path / "server.log", workers=2) as first:
        code, errors = await _serve_until_it_exits(first.port, 2, sqlite_url)
        assert (code, errors) == (STARTUP_FAILURE, _refusal(first.port))
        # The running one keeps the whole port: every new connection reaches one of its workers.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=first.url, limits=limits) as client:
            for _ in range(20):
                assert (await client.get("/health")).status_code == 200
        first.terminate()
        assert await first.exit_code(within=30) == 0
    assert first.log_text().count("Started server process") == 2


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "so_reuseport"])
async def test_serve_on_a_port_another_process_listens_on_stops_with_one_line(
    sqlite_url: str, workers: int, reuse_port: bool
) -> None:
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        other.bind(("127.0.0.1", free_port()))
        other.listen()
        port = other.getsockname()[1]
        code, errors = await _serve_until_it_exits(port, workers, sqlite_url)
    assert (code, errors) == (STARTUP_FAILURE, _refusal(port))
