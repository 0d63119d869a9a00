"""The real server process: graceful stop under load, metrics across workers, clean logs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from commands import VIDEOLIKES, command_env
from conftest import (
    TEST_IP_HASH_SECRET,
    counter_drift,
    opened_database,
    scalar,
    seed_demo,
)
from fake_recaptcha import FakeRecaptcha
from pg_cluster import free_port
from served import Server, served

from videolikes.db.units import Database

VIDEO = "DEMO00000001"
IN_FLIGHT = 40


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[Database]:
    async with opened_database(postgres_url) as database:
        yield database


async def test_sigterm_during_load_finishes_every_accepted_request_and_exits_0(
    postgres_url: str,
    postgres_database: Database,
    fake_recaptcha: FakeRecaptcha,
    tmp_path: Path,
) -> None:
    database = postgres_database
    await seed_demo(database)
    # Slow verification keeps every like in flight when the signal arrives.
    fake_recaptcha.delay = 1.5
    async with served(
        postgres_url,
        tmp_path / "server.log",
        LOG_FORMAT="json",
        RECAPTCHA_SECRET_KEY="graceful-secret",
        RECAPTCHA_VERIFY_URL=fake_recaptcha.url,
        # Room for a loaded test machine: the point is the stop, not the verifier's deadline.
        RECAPTCHA_TIMEOUT="10",
        TRUSTED_PROXIES="127.0.0.1/32",
        # The readers are one client; limits would answer them 429 long before the stop.
        RATE_LIMIT_ENABLED="false",
    ) as server:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=30) as client:

            async def like(n: int) -> httpx.Response:
                headers = {
                    "X-Recaptcha-Token": "token",
                    "X-Forwarded-For": f"198.51.100.{n + 1}",
                    "X-Request-ID": f"like-{n}",
                }
                return await client.post(f"/api/videos/{VIDEO}/like", headers=headers)

            stopped = asyncio.Event()
            answered: dict[str, int] = {}
            refused_after_stop = 0

            async def read_until_refused(worker: int) -> None:
                nonlocal refused_after_stop
                for n in range(100_000):
                    request_id = f"read-{worker}-{n}"
                    try:
                        response = await client.get(
                            "/api/videos", headers={"X-Request-ID": request_id}
                        )
                    except httpx.TransportError:
                        # Only once stopping: a connection the server never read from.
                        assert stopped.is_set()
                        refused_after_stop += 1
                        if refused_after_stop > 20:
                            return
                        await asyncio.sleep(0.05)
                        continue
                    answered[request_id] = response.status_code

            readers = [asyncio.create_task(read_until_refused(w)) for w in range(4)]
            for _ in range(500):
                if len(answered) >= 100:
                    break
                await asyncio.sleep(0.02)
            likes = [asyncio.create_task(like(n)) for n in range(IN_FLIGHT)]
            for _ in range(500):
                if len(fake_recaptcha.requests) == IN_FLIGHT:
                    break
                await asyncio.sleep(0.02)
            server.terminate()
            stopped.set()
            responses = await asyncio.gather(*likes)
            await asyncio.gather(*readers)
            assert await server.exit_code(within=30) == 0

    assert [(r.status_code, r.json()) for r in responses] == [(200, {"userLike": True})] * IN_FLIGHT
    assert len(answered) > 100
    assert set(answered.values()) == {200}
    # Every request the server logged (it accepted) was answered to the client, with 200.
    logged = {
        str(entry["request_id"]): entry["status"]
        for entry in server.json_log()
        if entry["logger"] == "videolikes.access" and entry["route"] != "/ready"
    }
    assert {k: v for k, v in logged.items() if k.startswith("read-")} == answered
    assert {k for k in logged if k.startswith("like-")} == {f"like-{n}" for n in range(IN_FLIGHT)}
    messages = [entry["message"] for entry in server.json_log()]
    assert "Application shutdown complete." in messages
    await database.dispose()  # fresh connections: the pooled one idled through the whole run
    assert await scalar(database, "SELECT likes FROM videos WHERE id = :id", id=VIDEO) == IN_FLIGHT
    assert await counter_drift(database) == 0


async def test_metrics_add_up_across_worker_processes(postgres_url: str, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    async with served(
        postgres_url, tmp_path / "server.log", workers=2, TMPDIR=str(scratch)
    ) as server:
        assert [p.name[:19] for p in scratch.iterdir()] == ["videolikes-metrics-"]
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.url, limits=limits) as client:
            before = (await client.get("/metrics")).text
            for _ in range(30):
                assert (await client.get("/health")).status_code == 200
            after = (await client.get("/metrics")).text
        server.terminate()
        assert await server.exit_code(within=30) == 0
    line = 'videolikes_http_requests_total{method="GET",route="/health",status="200"}'

    def count(text: str) -> float:
        found = [row for row in text.splitlines() if row.startswith(line)]
        return float(found[0].split()[-1]) if found else 0.0

    assert count(after) - count(before) == 30
    pids = {entry for entry in server.log_text().splitlines() if "Started server process" in entry}
    assert len(pids) == 2
    assert list(scratch.iterdir()) == []


async def test_server_logs_hold_no_client_address_token_or_secret(
    database_url: str, database: Database, fake_recaptcha: FakeRecaptcha, tmp_path: Path
) -> None:
    await seed_demo(database)
    client_ip, proxied_ip = "203.0.113.77", "198.51.100.201"
    token, recaptcha_secret = "tok-PRIVATE-9f8e7d", "rc-secret-PRIVATE-1a2b"
    async with served(
        database_url,
        tmp_path / "server.log",
        LOG_LEVEL="debug",
        RECAPTCHA_SECRET_KEY=recaptcha_secret,
        RECAPTCHA_VERIFY_URL=fake_recaptcha.url,
        TRUSTED_PROXIES="127.0.0.1/32",
    ) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            forwarded = {"X-Forwarded-For": f"{client_ip}, {proxied_ip}"}
            for answer in (
                {},
                {"score": 0.1},
                {"success": False, "error-codes": ["invalid-input-response"]},
            ):
                fake_recaptcha.answer(**answer)
                await client.post(
                    f"/api/videos/{VIDEO}/like", headers={**forwarded, "X-Recaptcha-Token": token}
                )
            await client.post(f"/api/videos/{VIDEO}/like", headers=forwarded)
            fake_recaptcha.status = 500
            await client.post(
                f"/api/videos/{VIDEO}/like", headers={**forwarded, "X-Recaptcha-Token": token}
            )
            await client.get(f"/api/videos/{client_ip}/like", headers=forwarded)
            await client.get("/api/me", headers={**forwarded, "X-Request-ID": client_ip})
            await client.get(f"/nope?ip={client_ip}&token={token}", headers=forwarded)
        server.terminate()
        assert await server.exit_code(within=30) == 0
    logs = server.log_text()
    assert "videolikes.access" in logs
    assert "reCAPTCHA outcome=rejected" in logs
    for secret in (client_ip, proxied_ip, token, recaptcha_secret, TEST_IP_HASH_SECRET):
        assert secret not in logs
    assert os.environ.get("IP_HASH_SECRET", "unset") not in logs


def _tcp_sockets(port: int, state: str) -> set[str]:
    """The inodes of the IPv4 sockets on local `port` in `state` (01 established, 0A listen)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            inodes.add(fields[9])
    return inodes


def _established_per_worker(server_pid: int, port: int) -> list[int]:
    """How many established connections to `port` each worker process of the server holds."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    established = _tcp_sockets(port, "01")
    counts = []
    for child in children:
        if b"resource_tracker" in Path(f"/proc/{child}/cmdline").read_bytes():
            continue
        links = {os.readlink(fd) for fd in Path(f"/proc/{child}/fd").iterdir()}
        counts.append(sum(f"socket:[{inode}]" in links for inode in established))
    return sorted(counts)


async def test_workers_share_a_burst_of_connections(postgres_url: str, tmp_path: Path) -> None:
    async with served(postgres_url, tmp_path / "server.log", workers=2) as server:
        port = int(server.url.rsplit(":", 1)[1])
        # Each worker listens on a socket of its own once it has started.
        for _ in range(300):
            if len(_tcp_sockets(port, "0A")) == 2:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the two workers are not both listening after 30 s")
        connections = await asyncio.gather(
            *(asyncio.open_connection("127.0.0.1", port) for _ in range(32))
        )
        for _, writer in connections:
            writer.write(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        for reader, _ in connections:
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        counts = _established_per_worker(server.process.pid, port)
        for _, writer in connections:
            writer.close()
    # Spread by the kernel's hash, each of the two holds some; one shared socket gave 61/3.
    assert len(counts) == 2
    assert min(counts) >= 4, counts


async def test_a_worker_that_dies_is_replaced(postgres_url: str, tmp_path: Path) -> None:
    async with served(postgres_url, tmp_path / "server.log", workers=2) as server:
        port = int(server.url.rsplit(":", 1)[1])
        first, second = server.workers()
        os.kill(first, signal.SIGKILL)
        for _ in range(300):
            workers = server.workers()
            if len(workers) == 2 and first not in workers and len(_tcp_sockets(port, "0A")) == 2:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the killed worker was not replaced within 30 s")
        assert second in workers
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/health")).status_code == 200
        server.terminate()
        assert await server.exit_code(within=30) == 0
    assert "starting another" in server.log_text()


@pytest.mark.parametrize("workers", [1, 2])
async def test_a_server_whose_app_cannot_start_exits_3(tmp_path: Path, workers: int) -> None:
    # No SQLAlchemy dialect has this name, so every worker's startup fails when it makes
    # its engine; replacing such a worker would fail the same way forever.
    process = await asyncio.create_subprocess_exec(
        VIDEOLIKES,
        "serve",
        "--port",
        str(free_port()),
        "--workers",
        str(workers),
        env=command_env("nosuchdatabase://localhost/likes"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            _, errors = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 3, errors.decode()
    if workers > 1:
        assert b"could not start; stopping every worker" in errors
        assert b"starting another" not in errors


async def _request_on_new_connection(port: int, target: str, request_id: str) -> tuple[int, int]:
    """(status, the client's own port) of one request on a connection of its own."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        client_port = writer.get_extra_info("sockname")[1]
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: t\r\nX-Request-ID: {request_id}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        async with asyncio.timeout(30):
            status = int((await reader.readline()).split()[1])
            await reader.read()
    finally:
        writer.close()
    return status, client_port


async def test_workers_log_each_request_once_without_address_or_query_string(
    sqlite_url: str, tmp_path: Path
) -> None:
    probe = "probe-PRIVATE-5c1d"
    async with served(sqlite_url, tmp_path / "server.log", workers=2) as server:
        # A connection each, so that both workers answer some (the kernel spreads them).
        answers = await asyncio.gather(
            *(
                _request_on_new_connection(
                    server.port, f"/api/me/likes?ids=DEMO00000001&probe={probe}", f"quiet-{n}"
                )
                for n in range(40)
            )
        )
        served_by = {entry for entry in server.log_text().splitlines() if "quiet-" in entry}
        server.terminate()
        assert await server.exit_code(within=30) == 0
    assert {status for status, _ in answers} == {200}
    logs = server.log_text()
    assert probe not in logs
    assert "uvicorn.access" not in logs
    for _, client_port in answers:
        assert f"127.0.0.1:{client_port}" not in logs
    logged = [line.split("[", 1)[1].split("]", 1)[0] for line in served_by]
    assert sorted(logged) == sorted(f"quiet-{n}" for n in range(40))
    assert logs.count("Started server process") == 2


async def _started(server: Server, *, workers: int) -> None:
    """Wait until `workers` workers have started in all, the replacements included."""
    for _ in range(300):
        if server.log_text().count("Application startup complete.") >= workers:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workers} workers did not start within 30 s")


def _pool_size(metrics: str) -> float:
    rows = [row for row in metrics.splitlines() if row.startswith("videolikes_db_pool_size")]
    return float(rows[0].split()[-1])


async def test_pool_size_counts_only_live_workers_after_one_is_killed(
    postgres_url: str, tmp_path: Path
) -> None:
    async with served(
        postgres_url, tmp_path / "server.log", workers=2, DATABASE_POOL_SIZE="10"
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await _started(server, workers=2)
            assert _pool_size((await client.get("/metrics")).text) == 20
            os.kill(server.workers()[0], signal.SIGKILL)
            await _started(server, workers=3)
            # The replacement's pool counted in, the dead one's out.
            assert _pool_size((await client.get("/metrics")).text) == 20
        server.terminate()
        assert await server.exit_code(within=30) == 0


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def test_workers_stop_when_the_supervisor_is_killed(sqlite_url: str, tmp_path: Path) -> None:
    async with served(sqlite_url, tmp_path / "server.log", workers=2) as server:
        await _started(server, workers=2)
        workers = server.workers()
        server.process.kill()
        await server.exit_code(within=30)
        for _ in range(300):
            if not any(_alive(pid) for pid in workers):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("workers outlived their supervisor by 30 s")
    # Nothing holds the port any more.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", server.port))
