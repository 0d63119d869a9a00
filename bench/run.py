"""Benchmark videolikes end to end: `python -m bench` (or `make bench`); `--help` for options.

Creates its own PostgreSQL database, migrates and fills it, starts `videolikes serve`, runs the
wrk scenarios and pgbench, prints the table and writes bench/results/<time>-<scale>/. With
--pgbouncer N every scenario runs a second time in each run, through a pgbouncer of its own in
transaction mode with N server connections.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from bench import cpu, data, loadgen, report, topology
from bench.report import new_run_dir, run_stamp
from bench.scenarios import Scenario, Skipped, scenarios
from bench.server import BENCH_IP_HASH_SECRET, Server, add_env_option, migrate, server_env

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from pgbouncer import pgbouncer

DEFAULT_ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
# Setup, server start, resets and drift checks, measured on the reference machine.
_OVERHEAD_SECONDS = {"small": 30, "large": 240}
_SCENARIO_COUNT = {"small": 6, "large": 3}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", choices=["small", "large"], default="small")
    parser.add_argument("--duration", type=float, default=20, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5, help="thrown-away seconds before")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=1, help="repeat all; the table shows medians")
    parser.add_argument("--only", default="", help="comma-separated scenario keys, e.g. S1,S3")
    parser.add_argument("--pgbench-clients", type=int, default=16)
    parser.add_argument("--pgbench-duration", type=float, default=20)
    parser.add_argument("--no-pgbench", action="store_true")
    add_env_option(parser, example="DATABASE_POOL_SIZE=20")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("BENCH_ADMIN_URL", DEFAULT_ADMIN_URL),
        help="a PostgreSQL database to connect to while creating the benchmark's own",
    )
    parser.add_argument("--database", default="videolikes_bench")
    parser.add_argument(
        "--pgbouncer",
        type=int,
        default=0,
        metavar="SERVER_CONNECTIONS",
        help="also run every scenario through pgbouncer (transaction mode) with this many "
        "server connections, with DATABASE_POOLER=transaction",
    )
    parser.add_argument("--keep-database", action="store_true")
    topology_options = parser.add_argument_group(
        "topology", "--topology: instances behind haproxy on a primary and replicas of its own"
    )
    topology_options.add_argument("--topology", action="store_true")
    topology_options.add_argument("--instances", type=int, default=2)
    topology_options.add_argument(
        "--replicas", default="0", help="comma-separated replica counts to compare, e.g. 0,1,2"
    )
    return parser.parse_args()


def _stop_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM into the same unwinding as Ctrl-C, so every `finally` stops what it started.
    raise KeyboardInterrupt(f"signal {signum}")


def _estimate_seconds(args: argparse.Namespace, scenario_count: int) -> float:
    routes = 2 if args.pgbouncer else 1
    per_run = routes * scenario_count * (args.warmup + args.duration)
    if not args.no_pgbench:
        per_run += 2 * args.pgbench_duration
    return float(_OVERHEAD_SECONDS[args.scale] + args.runs * per_run)


@dataclasses.dataclass(frozen=True)
class Route:
    """How the server reaches the database: directly, or through a pgbouncer (its pid)."""

    name: str
    server_url: str
    env: list[str]
    pooler_pid: int | None = None


@contextmanager
def routes(args: argparse.Namespace, url: str) -> Iterator[list[Route]]:
    direct = Route("", url, args.env)
    if not args.pgbouncer:
        yield [direct]
        return
    server = urlsplit(url)
    data.plan_for_values(args.admin_url, args.database)
    with pgbouncer(
        server.port or 5432, upstream_host=server.hostname or "127.0.0.1", pool_size=args.pgbouncer
    ) as bouncer:
        pooled = bouncer.url(args.database, user=server.username or "postgres")
        env = [*args.env, "DATABASE_POOLER=transaction"]
        yield [direct, Route("through pgbouncer", pooled, env, bouncer.pid)]


def _run_scenario(
    scenario: Scenario,
    *,
    args: argparse.Namespace,
    server: Server,
    url: str,
    run_dir: Path,
    route: Route,
) -> tuple[loadgen.LoadResult, float]:
    """The scenario's figures, and the pooler's CPU time per request (0 without one)."""
    paths = scenario.write_paths(run_dir)
    common: dict[str, Any] = {
        "base_url": server.base_url,
        "method": scenario.method,
        "paths_file": paths,
        "clients": scenario.clients,
        "connections": args.connections,
        "threads": args.threads,
    }
    if args.warmup > 0:
        loadgen.wrk(seconds=args.warmup, **common)
    # The pools are full after the warm-up, so these backends serve the whole measurement.
    backends = cpu.processes_cpu(data.backend_pids(url))
    pooler = [route.pooler_pid] if route.pooler_pid else []
    pooler_before = cpu.processes_cpu(pooler)
    server_before = cpu.process_group_cpu(server.process_group)
    result = loadgen.wrk(seconds=args.duration, **common)
    server_seconds = cpu.process_group_cpu(server.process_group) - server_before
    after = cpu.processes_cpu(list(backends))
    postgres_seconds = sum(after[pid] - backends[pid] for pid in after)
    pooler_after = cpu.processes_cpu(pooler)
    pooler_seconds = sum(pooler_after[pid] - pooler_before[pid] for pid in pooler_after)
    requests = max(result.requests, 1)
    measured = dataclasses.replace(
        result,
        server_cpu_us=server_seconds / requests * 1e6,
        postgres_cpu_us=postgres_seconds / requests * 1e6,
    )
    return measured, pooler_seconds / requests * 1e6


def main() -> None:
    args = _arguments()
    loadgen.require_tools()
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    if args.topology:
        topology.main(args)
        return
    scale = data.LARGE if args.scale == "large" else data.SMALL
    only = {key.strip().upper() for key in args.only.split(",") if key.strip()}
    count = len(only) if only else _SCENARIO_COUNT[args.scale]
    estimate = _estimate_seconds(args, count)
    started = time.monotonic()
    run_dir = new_run_dir(scale.name)
    print(
        f"videolikes benchmark, {scale.name} scale: about {estimate / 60:.1f} min in all "
        f"({count} scenarios x ({args.warmup:g} s warm-up + {args.duration:g} s)"
        f"{'' if args.no_pgbench else f' + pgbench 2 x {args.pgbench_duration:g} s'}"
        f", x {args.runs} run(s)); results in {run_dir}",
        flush=True,
    )

    url = data.with_database(args.admin_url, args.database)
    log = run_dir / "server.log"
    rows: dict[tuple[str, str], report.Row] = {}
    pgbench: dict[str, list[loadgen.PgbenchResult]] = {"status": [], "toggle": []}
    data.recreate_database(args.admin_url, args.database)
    try:
        migrate(url, log)
        print(f"loading {scale.videos:,} videos, {scale.users:,} users, {scale.likes:,} likes")
        loaded = data.load(url, scale, BENCH_IP_HASH_SECRET)
        print(f"  loaded in {loaded:.0f} s", flush=True)
        with routes(args, url) as ways:
            for run in range(1, args.runs + 1):
                for route in ways:
                    _run_scenarios(args, scale, url, run_dir, log, route, run, only, rows)
                if args.no_pgbench:
                    continue
                scripts = loadgen.pgbench_scripts(run_dir, scale.videos)
                for name, script in scripts.items():
                    data.reset(url, scale)
                    outcome = loadgen.pgbench(
                        url=url,
                        script=script,
                        clients=args.pgbench_clients,
                        seconds=args.pgbench_duration,
                    )
                    pgbench[name].append(outcome)
                    print(
                        f"run {run} pgbench {name}: {outcome.transactions_per_second:,.0f} tps",
                        flush=True,
                    )
    finally:
        if not args.keep_database:
            data.drop_database(args.admin_url, args.database)

    ordered = [row for _, row in sorted(rows.items())]
    rendered = report.table(ordered, pgbench, with_bar=scale.users == 0)
    report.save(
        run_dir,
        settings={
            **{key: value for key, value in vars(args).items() if key != "admin_url"},
            "date": run_stamp(run_dir),
            "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
            "seconds": round(time.monotonic() - started),
        },
        rows=ordered,
        pgbench=pgbench,
        rendered=rendered,
    )
    print()
    print(rendered)
    print(f"\ndone in {(time.monotonic() - started) / 60:.1f} min; results in {run_dir}")


def _run_scenarios(
    args: argparse.Namespace,
    scale: data.Scale,
    url: str,
    run_dir: Path,
    log: Path,
    route: Route,
    run: int,
    only: set[str],
    rows: dict[tuple[str, str], report.Row],
) -> None:
    """One run of every scenario asked for, on a server reaching the database by `route`."""
    with Server(
        workers=args.workers, env=server_env(route.server_url, route.env), log_path=log
    ) as server:
        for item in scenarios(scale, server.base_url):
            if only and item.key not in only:
                continue
            title = f"{item.title}, {route.name}" if route.name else item.title
            row = rows.setdefault((item.key, route.name), report.Row(item.key, title, [], []))
            label = f"run {run} {item.key}{f' {route.name}' if route.name else ''}"
            if isinstance(item, Skipped):
                row.note = item.reason
                print(f"{label}: skipped, {item.reason}", flush=True)
                continue
            data.reset(url, scale)
            result, pooler_cpu_us = _run_scenario(
                item, args=args, server=server, url=url, run_dir=run_dir, route=route
            )
            row.runs.append(result)
            if item.writes:
                row.drifts.append(data.drift(url))
            print(
                f"{label}: {result.requests_per_second:,.0f} req/s, "
                f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
                f"non-2xx {result.non_2xx + result.socket_errors}, "
                f"CPU/request: server {result.server_cpu_us:.0f} us, "
                f"PostgreSQL {result.postgres_cpu_us:.0f} us"
                + (f", pgbouncer {pooler_cpu_us:.0f} us" if route.pooler_pid else "")
                + (f", drift {row.drifts[-1]}" if item.writes else ""),
                flush=True,
            )


def cli() -> None:
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: the server was stopped and the benchmark database dropped")


if __name__ == "__main__":
    cli()
