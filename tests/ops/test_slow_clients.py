"""Clients that send half a request head and wait, against a real `videolikes serve` run with a
low limit of open files: the server answers them 408 and keeps serving everyone else."""

from __future__ import annotations

import asyncio
import resource
from pathlib import Path

from conftest import opened_database
from served import served

FD_LIMIT = 256  # the server's; it then holds at most 128 connections (listeners.py)
SLOW_CLIENTS = 400
HALF_HEAD = b"GET /api/videos/DEMO00000001/like HTTP/1.1\r\nHost: t\r\nX-Slow: "
REQUEST = b"GET /api/videos/DEMO00000001/like HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: 27\r\n"
    b'x-content-type-options: nosniff\r\nconnection: close\r\n\r\n{"error":"Request timeout"}'
)


class SlowClients:
    """Connections that send half a head, then read what comes until the server closes."""

    def __init__(self, port: int, count: int) -> None:
        self._gate = asyncio.Semaphore(100)
        self._sent = 0
        self.all_sent = asyncio.Event()
        self.answers = [asyncio.create_task(self._one(port, count)) for _ in range(count)]

    async def _one(self, port: int, count: int) -> bytes:
        async with self._gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(HALF_HEAD)
            await writer.drain()
        self._sent += 1
        if self._sent == count:
            self.all_sent.set()
        try:
            async with asyncio.timeout(60):
                return await reader.read()
        finally:
            writer.close()


async def _ordinary_request(port: int) -> bytes:
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(REQUEST)
            return await reader.read()
        finally:
            writer.close()


async def test_half_header_connections_get_408_while_others_are_served(
    sqlite_url: str, tmp_path: Path
) -> None:
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] > SLOW_CLIENTS + 100
    async with opened_database(sqlite_url, demo=True):
        pass
    async with served(
        sqlite_url,
        tmp_path / "server.log",
        fd_limit=FD_LIMIT,
        HEADER_TIMEOUT="3",
        RATE_LIMIT_ENABLED="false",
        LOG_FORMAT="json",
    ) as server:
        slow = SlowClients(server.port, SLOW_CLIENTS)
        async with asyncio.timeout(60):
            await slow.all_sent.wait()
        # Into the crowd of slow connections, which takes more than the server can hold.
        ordinary = [await _ordinary_request(server.port) for _ in range(20)]
        answers = await asyncio.gather(*slow.answers)
        server.terminate()
        assert await server.exit_code(within=30) == 0
    assert [answer.split(b"\r\n", 1)[0] for answer in ordinary] == [b"HTTP/1.1 200 OK"] * 20
    assert answers == [TIMEOUT_ANSWER] * SLOW_CLIENTS
    warnings = [
        entry
        for entry in server.json_log()
        if entry["logger"] == "videolikes.http.connection_guard" and entry["level"] == "warning"
    ]
    # Rate-limited (one line per 10 s at most, the rest when it stops), counted, no address.
    assert 1 <= len(warnings) <= 2
    assert "127.0.0.1" not in str(warnings)
    assert sum(int(str(entry["pushed_out"])) for entry in warnings) >= SLOW_CLIENTS - 128
    assert (
        sum(int(str(entry["timed_out"])) + int(str(entry["pushed_out"])) for entry in warnings)
        == SLOW_CLIENTS
    )
    assert "HEADER_TIMEOUT" in str(warnings[-1]["message"])
