"""Slow and cut-off clients against the real server: `python -m bench.slow_clients`.

Starts `videolikes serve` on SQLite in a temporary directory under a low limit of open files
(as `ulimit -n 1024`, systemd's default), then:

1. opens many connections that send half a request head and wait (reopening each one the
   server closes, unless --no-reconnect), while a few ordinary clients keep asking for a like
   status on new connections; prints what the ordinary clients got and how fast;
2. for 1 and 2 workers, sends SIGTERM to the server in the middle of a load of short
   connections, one request each, and counts the requests sent, answered, cut off after they
   were sent (reset or closed unanswered: must be 0) and the connects refused (which never
   sent anything).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.server import Server, add_env_option

VIDEOLIKES = str(Path(sys.executable).with_name("videolikes"))
STATUS_REQUEST = (
    b"GET /api/videos/DEMO00000001/like HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
)
HALF_HEAD = b"GET /api/videos/DEMO00000001/like HTTP/1.1\r\nHost: bench\r\nX-Slow: "
_REQUEST_TIMEOUT = 10.0
_OPENING_CONCURRENCY = 200
# Descriptors this process needs beyond its slow connections: the ordinary clients and Python.
_OWN_FD_MARGIN = 200


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_clients", description=__doc__)
    parser.add_argument("--slow", type=int, default=2100, help="half-header connections")
    parser.add_argument("--fd-limit", type=int, default=1024, help="the server's RLIMIT_NOFILE")
    parser.add_argument("--workers", type=int, default=1, help="workers for the slow clients")
    parser.add_argument("--duration", type=float, default=15, help="seconds of ordinary load")
    parser.add_argument("--clients", type=int, default=4, help="ordinary clients at once")
    parser.add_argument("--no-reconnect", action="store_true", help="slow clients leave when cut")
    parser.add_argument("--stop-connections", type=int, default=64, help="for the SIGTERM check")
    parser.add_argument("--skip-slow", action="store_true")
    parser.add_argument("--skip-stop", action="store_true")
    add_env_option(parser, example="HEADER_TIMEOUT=2")
    return parser.parse_args()


@dataclass
class SlowTally:
    opened: int = 0
    connect_failed: int = 0
    answered_408: int = 0
    answered_other: int = 0
    closed_unanswered: int = 0
    reset: int = 0
    open_at_end: int = 0


@dataclass
class OrdinaryTally:
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


@dataclass
class StopTally:
    sent: int = 0
    answered: int = 0
    cut_off: int = 0
    refused: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


def _raise_own_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"this needs {needed} open files and the hard limit is {hard}: lower --slow")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _prepare_database(directory: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'videolikes.db'}",
        "IP_HASH_SECRET": "videolikes-slow-clients-bench",
    }
    for command in (["db", "upgrade"], ["seed", "--demo"]):
        subprocess.run(
            [VIDEOLIKES, *command], env=env, check=True, capture_output=True, timeout=120
        )
    return {
        "DATABASE_URL": env["DATABASE_URL"],
        "IP_HASH_SECRET": env["IP_HASH_SECRET"],
        "RATE_LIMIT_ENABLED": "false",
        "RECAPTCHA_SECRET_KEY": "",
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "warning",
    }


async def _status_line(reader: asyncio.StreamReader) -> int | None:
    """The status of the response on `reader`, after reading it to its end; None if none came."""
    line = await reader.readline()
    if not line.startswith(b"HTTP/1.1 "):
        return None
    await reader.read()
    return int(line.split()[1])


async def _slow_connection(
    port: int, tally: SlowTally, until: float, gate: asyncio.Semaphore, reconnect: bool
) -> None:
    while time.monotonic() < until:
        async with gate:
            try:
                async with asyncio.timeout(_REQUEST_TIMEOUT):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(HALF_HEAD)
                    await writer.drain()
            except (OSError, TimeoutError):
                tally.connect_failed += 1
                await asyncio.sleep(0.5)
                continue
        tally.opened += 1
        try:
            async with asyncio.timeout(max(0.0, until - time.monotonic())):
                answer = await reader.read(4096)
        except TimeoutError:
            return
        except OSError:
            tally.reset += 1
        else:
            if answer.startswith(b"HTTP/1.1 408 "):
                tally.answered_408 += 1
            elif answer:
                tally.answered_other += 1
            else:
                tally.closed_unanswered += 1
        finally:
            writer.close()
        if not reconnect:
            return


async def _ordinary_client(port: int, tally: OrdinaryTally, until: float) -> None:
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                try:
                    writer.write(STATUS_REQUEST)
                    status = await _status_line(reader)
                finally:
                    writer.close()
        except TimeoutError:
            tally.failures["timed out"] += 1
            continue
        except ConnectionRefusedError:
            tally.failures["refused"] += 1
        except ConnectionResetError:
            tally.failures["reset"] += 1
        except OSError as exc:
            tally.failures[type(exc).__name__] += 1
        else:
            if status is None:
                tally.failures["closed unanswered"] += 1
            else:
                tally.statuses[status] += 1
                if status == 200:
                    tally.latencies.append(time.monotonic() - started)
                continue
        await asyncio.sleep(0.1)


async def _slow_clients_run(port: int, args: argparse.Namespace) -> tuple[SlowTally, OrdinaryTally]:
    slow, ordinary = SlowTally(), OrdinaryTally()
    gate = asyncio.Semaphore(_OPENING_CONCURRENCY)
    slow_until = time.monotonic() + args.duration + 60
    slow_tasks = [
        asyncio.create_task(_slow_connection(port, slow, slow_until, gate, not args.no_reconnect))
        for _ in range(args.slow)
    ]
    # The slow connections first, as an attacker would; the ordinary clients come into it.
    for _ in range(200):
        if slow.opened + slow.connect_failed >= args.slow:
            break
        await asyncio.sleep(0.1)
    until = time.monotonic() + args.duration
    await asyncio.gather(*(_ordinary_client(port, ordinary, until) for _ in range(args.clients)))
    for task in slow_tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*slow_tasks, return_exceptions=True)
    ended = slow.answered_408 + slow.answered_other + slow.closed_unanswered + slow.reset
    slow.open_at_end = slow.opened - ended
    return slow, ordinary


async def _one_request_per_connection(port: int, tally: StopTally, stopping: asyncio.Event) -> None:
    refusals_after_stop = 0
    while refusals_after_stop < 3:
        try:
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except (OSError, TimeoutError):
            tally.refused += 1
            if stopping.is_set():
                refusals_after_stop += 1
            await asyncio.sleep(0.05)
            continue
        try:
            writer.write(STATUS_REQUEST)
            await writer.drain()
            tally.sent += 1
            async with asyncio.timeout(_REQUEST_TIMEOUT):
                status = await _status_line(reader)
        except (OSError, TimeoutError):
            status = None
        finally:
            writer.close()
        if status is None:
            tally.cut_off += 1
        else:
            tally.answered += 1
            tally.statuses[status] += 1


async def _stop_under_load(server: Server, connections: int) -> StopTally:
    tally = StopTally()
    stopping = asyncio.Event()
    clients = [
        asyncio.create_task(_one_request_per_connection(server.port, tally, stopping))
        for _ in range(connections)
    ]
    await asyncio.sleep(2)
    stopping.set()
    await asyncio.to_thread(server.stop)
    async with asyncio.timeout(60):
        await asyncio.gather(*clients)
    return tally


def _milliseconds(seconds: list[float], pick: str) -> str:
    if not seconds:
        return "-"
    value = statistics.median(seconds) if pick == "median" else max(seconds)
    return f"{value * 1000:.1f}"


def _print_slow(args: argparse.Namespace, slow: SlowTally, ordinary: OrdinaryTally) -> None:
    reconnect = "reopened when cut" if not args.no_reconnect else "not reopened"
    print(
        f"\n{args.slow:,} half-header connections ({reconnect}), server fd limit "
        f"{args.fd_limit}, {args.workers} worker(s), {args.clients} ordinary clients for "
        f"{args.duration:.0f} s"
    )
    rows = [
        ("slow: connections opened", f"{slow.opened:,}"),
        ("slow: connects failed", f"{slow.connect_failed:,}"),
        ("slow: answered 408", f"{slow.answered_408:,}"),
        ("slow: answered otherwise", f"{slow.answered_other:,}"),
        ("slow: closed unanswered", f"{slow.closed_unanswered:,}"),
        ("slow: reset", f"{slow.reset:,}"),
        ("slow: still open at the end", f"{slow.open_at_end:,}"),
        ("ordinary: 200", f"{ordinary.statuses[200]:,}"),
    ]
    rows += [
        (f"ordinary: {status}", f"{n:,}")
        for status, n in ordinary.statuses.items()
        if status != 200
    ]
    rows += [(f"ordinary: {kind}", f"{n:,}") for kind, n in sorted(ordinary.failures.items())]
    rows += [
        ("ordinary: latency median ms", _milliseconds(ordinary.latencies, "median")),
        ("ordinary: latency max ms", _milliseconds(ordinary.latencies, "max")),
    ]
    for name, value in rows:
        print(f"  {name:34s} {value:>10s}")


def _print_stop(results: dict[int, StopTally]) -> None:
    print("\nSIGTERM in the middle of short connections, one request each")
    print(f"  {'workers':>7s} {'sent':>7s} {'answered':>9s} {'cut off':>8s} {'refused':>8s}")
    for workers, tally in results.items():
        print(
            f"  {workers:>7d} {tally.sent:>7,} {tally.answered:>9,} {tally.cut_off:>8,}"
            f" {tally.refused:>8,}"
        )


def main() -> None:
    args = _arguments()
    extra = dict(item.split("=", 1) for item in args.env)
    _raise_own_fd_limit(args.slow + args.stop_connections + _OWN_FD_MARGIN)
    with tempfile.TemporaryDirectory(prefix="videolikes-slow-clients-") as scratch:
        directory = Path(scratch)
        env = {**_prepare_database(directory), **extra}
        log = directory / "server.log"
        if not args.skip_slow:
            with Server(
                workers=args.workers, env=env, log_path=log, fd_limit=args.fd_limit
            ) as server:
                slow, ordinary = asyncio.run(_slow_clients_run(server.port, args))
            _print_slow(args, slow, ordinary)
            warnings = [line for line in log.read_text().splitlines() if "WARNING" in line]
            print(f"  server warning lines: {len(warnings)}")
            for line in warnings[:3]:
                print(f"    {line[:150]}")
        if not args.skip_stop:
            results = {}
            for workers in (1, 2):
                with Server(workers=workers, env=env, log_path=log) as server:
                    results[workers] = asyncio.run(_stop_under_load(server, args.stop_connections))
            _print_stop(results)


if __name__ == "__main__":
    main()
