"""SIGTERM to a real `videolikes serve`: every request that reached it is answered."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest
from served import Server, served

REQUEST = b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
CLIENTS = 400


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    cut_off: int = 0  # sent, then reset or closed without an answer
    refused: int = 0  # never connected, so never sent anything


async def _answer(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(30):
        return await reader.read()


async def _one_request_per_connection(port: int, tally: Tally, stopping: asyncio.Event) -> None:
    while True:
        try:
            async with asyncio.timeout(30):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            tally.refused += 1
            if stopping.is_set():
                return
            await asyncio.sleep(0.05)
            continue
        try:
            writer.write(REQUEST)
            await writer.drain()
            tally.sent += 1
            answer = await _answer(reader)
        except OSError:
            answer = b""
        finally:
            writer.close()
        if answer.startswith(b"HTTP/1.1 200 "):
            tally.answered += 1
        else:
            tally.cut_off += 1


async def _stop_under_load(server: Server, *, every_process: bool) -> Tally:
    tally, stopping = Tally(), asyncio.Event()
    clients = [
        asyncio.create_task(_one_request_per_connection(server.port, tally, stopping))
        for _ in range(CLIENTS)
    ]
    for _ in range(600):
        if tally.answered >= 1000:
            break
        await asyncio.sleep(0.05)
    stopping.set()
    if every_process:
        server.terminate_all()
    else:
        server.terminate()
    async with asyncio.timeout(90):
        await asyncio.gather(*clients)
    assert await server.exit_code(within=30) == 0
    return tally


@pytest.mark.parametrize(
    ("workers", "every_process"),
    [(1, False), (2, False), (2, True)],
    ids=["one-worker", "two-workers", "two-workers-all-signalled"],
)
async def test_sigterm_under_load_cuts_off_no_request_that_was_sent(
    sqlite_url: str, tmp_path: Path, workers: int, every_process: bool
) -> None:
    async with served(sqlite_url, tmp_path / "server.log", workers=workers) as server:
        tally = await _stop_under_load(server, every_process=every_process)
    assert tally.answered >= 1000, tally
    # Clients that came after the stop were refused at connect: they had sent nothing.
    assert tally.refused >= CLIENTS
    assert tally.cut_off == 0, tally


async def test_a_request_sent_after_the_stop_on_a_connection_made_before_it_is_answered(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with served(sqlite_url, tmp_path / "server.log") as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            # Both accepted by the server before the stop; only one sends a request, later.
            await asyncio.sleep(0.5)
            server.terminate()
            await asyncio.sleep(1)
            writer.write(REQUEST)
            answer = await _answer(reader)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            assert b"connection: close\r\n" in answer.lower()
            # The other is closed when its head is overdue, and the server exits.
            assert await _answer(idle_reader) == b""
            assert await server.exit_code(within=30) == 0
        finally:
            writer.close()
            idle_writer.close()
