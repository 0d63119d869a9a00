"""The real `videolikes serve`: limits shared by its workers through Redis, bounded heads."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from conftest import REDIS_URL, Backend, opened_database, require_redis
from served import Server, serving

from videolikes.http.protocol import MAX_HEADER_BYTES, MAX_HEADER_FIELDS

LIKE = "/api/videos/DEMO00000001/like"
HEADER_TIMEOUT = 2


async def _seeded(url: str) -> str:
    async with opened_database(url, demo=True):
        return url


@pytest.fixture
async def database_url(sqlite_url: str) -> str:
    return await _seeded(sqlite_url)


def serve(directory: Path, *, workers: int = 1, **env: str) -> AbstractContextManager[Server]:
    # A secret of its own: its clients' rate-limit keys in the shared Redis are its own too.
    settings = {"IP_HASH_SECRET": f"test-{uuid.uuid4().hex}", "LOG_LEVEL": "warning", **env}
    log = directory / f"server-{uuid.uuid4().hex[:8]}.log"
    return serving(settings.pop("DATABASE_URL"), log, workers=workers, settings=settings)


def _workers_seen_by_redis(server: Server) -> set[int]:
    """Worker processes holding a Redis connection: each names its own after its pid."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        names = [str(entry.get("name", "")) for entry in client.client_list()]
    finally:
        client.close()
    pids = {int(match[1]) for name in names if (match := re.fullmatch(r"videolikes-(\d+)", name))}
    return pids & set(server.workers())


@pytest.mark.redis
async def test_two_workers_with_redis_give_one_client_exactly_the_limit(
    database_url: str, tmp_path: Path
) -> None:
    require_redis()
    limit = 30
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_GENERAL": f"{limit}/minute",
        # Generous: this test is about sharing counts, and a slow moment of a busy machine
        # must not let a request through by failing open.
        "REDIS_TIMEOUT": "2",
    }
    with serve(tmp_path, workers=2, **env) as server:
        assert len(server.workers()) >= 2
        statuses: list[int] = []
        # A fresh connection per request lets the kernel hand requests to either worker.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, limits=no_reuse) as client:
            while len(statuses) < 600:
                batch = await asyncio.gather(*(client.get(LIKE) for _ in range(10)))
                statuses += [response.status_code for response in batch]
                if len(statuses) >= 3 * limit and len(_workers_seen_by_redis(server)) == 2:
                    break
        workers_seen = len(_workers_seen_by_redis(server))
    counts = {status: statuses.count(status) for status in set(statuses)}
    assert workers_seen == 2, f"one worker served nothing: {counts}"
    assert counts == {200: limit, 429: len(statuses) - limit}


@pytest.fixture(scope="module")
async def server(
    sqlite_backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Server]:
    """One server for the request-head tests, which leave nothing behind."""
    directory = tmp_path_factory.mktemp("server")
    template = urlsplit(sqlite_backend.template_url).path.removeprefix("/")
    shutil.copyfile(template, directory / "videolikes.db")
    database_url = await _seeded(f"sqlite+aiosqlite:///{directory / 'videolikes.db'}")
    with serve(directory, DATABASE_URL=database_url, HEADER_TIMEOUT=str(HEADER_TIMEOUT)) as server:
        yield server


def _raw_request(server: Server, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        # The server may answer and close before reading all of an oversized head.
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(head)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _request(*headers: bytes) -> bytes:
    lines = [f"GET {LIKE} HTTP/1.1".encode(), b"Host: localhost", b"Connection: close", *headers]
    return b"\r\n".join([*lines, b"", b""])


def test_server_answers_an_ordinary_request_head(server: Server) -> None:
    answer = _raw_request(server, _request(b"X-Recaptcha-Token: " + b"t" * 4000))
    assert answer.startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(
    "head",
    [
        _request(b"X-Big: " + b"a" * MAX_HEADER_BYTES),
        _request(*(b"X-Many-%d: 1" % i for i in range(MAX_HEADER_FIELDS + 1))),
        b"GET /" + b"a" * MAX_HEADER_BYTES + b" HTTP/1.1\r\n\r\n",
    ],
    ids=["one-large-header", "too-many-headers", "long-url"],
)
def test_server_refuses_an_oversized_request_head_with_431(server: Server, head: bytes) -> None:
    answer = _raw_request(server, head)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert answer.endswith(b'{"error":"Request headers too large"}')


def test_server_hangs_up_on_an_endless_header_line_long_before_it_ends(server: Server) -> None:
    sent = 0
    answer = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nX-Endless: ")
        try:
            while sent < 16 * 1024 * 1024:
                sock.sendall(b"a" * 16384)
                sent += 16384
            answer = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            # Closing with unread bytes resets the connection, which may discard the 431.
            pass
        else:
            assert answer.startswith(b"HTTP/1.1 431 ")
    # Socket buffers hold a few hundred kilobytes; the server read little more than its bound.
    assert sent < 4 * 1024 * 1024


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"NOT A REQUEST LINE\r\n\r\n",
        b"GET /health HTTP/9.9\r\nHost: localhost\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nBad Header Name: 1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Nul: a\x00b\r\n\r\n",
        # A path that writes nothing: the endpoint may run before the body is found broken.
        b"POST /health HTTP/1.1\r\nHost: localhost\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nnot a chunk\r\n\r\n",
    ],
    ids=["request-line", "http-version", "header-name", "nul-in-header", "chunked-body"],
)
def test_server_answers_what_its_parser_refuses_with_a_json_400(
    server: Server, request_bytes: bytes
) -> None:
    answer = _raw_request(server, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), answer
    assert b"content-type: application/json" in head.lower()
    assert body == b'{"error":"Invalid HTTP request"}'


def test_server_answers_head_with_the_gets_headers_and_no_body(server: Server) -> None:
    lines = [b"HEAD /api/videos HTTP/1.1", b"Host: localhost", b"Connection: close", b"", b""]
    head, _, body = _raw_request(server, b"\r\n".join(lines)).partition(b"\r\n\r\n")
    got = httpx.get(f"{server.url}/api/videos")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b""
    assert f"content-length: {len(got.content)}".encode() in head.lower()
    assert f"etag: {got.headers['etag']}".encode() in head.lower()


def test_server_answers_408_to_a_head_still_incomplete_at_its_deadline(server: Server) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"GET {LIKE} HTTP/1.1\r\nHost: localhost\r\n".encode())
        # A complete header line now and then: progress, but never the end of the head.
        sock.settimeout(0.4)
        answer = b""
        for n in range(25):
            with contextlib.suppress(TimeoutError):
                answer = sock.recv(65536)
                break
            with contextlib.suppress(ConnectionResetError, BrokenPipeError):
                sock.sendall(b"X-Dribble-%d: 1\r\n" % n)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b'{"error":"Request timeout"}')
    assert time.monotonic() - started < HEADER_TIMEOUT + 3


def test_server_closes_a_connection_that_sends_nothing_by_the_head_deadline(
    server: Server,
) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        assert sock.recv(65536) == b""
    assert HEADER_TIMEOUT - 0.5 < time.monotonic() - started < HEADER_TIMEOUT + 3
