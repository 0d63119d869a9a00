"""Many instances behind haproxy, on a primary with replicas: `python -m bench --topology`.

Builds everything on free ports of its own and removes it at the end: a PostgreSQL primary
(initdb), migrated and loaded at the small scale; for each replica count asked for, that many
streaming standbys of it (pg_basebackup -R), named to the instances in DATABASE_REPLICA_URLS;
`--instances` `videolikes serve` processes with `--workers` each, sharing a Redis of their
own; haproxy over them. First one instance alone, straight to it, as the yardstick, and the
same through haproxy, for haproxy's own cost; then each replica count through haproxy.
Each scenario reports requests/s, latency, non-2xx, drift, the CPU time per request of the
instances and of haproxy, how haproxy spread the requests and which database server
committed the transactions.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench import cpu, data, loadgen, topology_report
from bench.private_redis import private_redis
from bench.report import new_run_dir
from bench.scenarios import Scenario, scenarios
from bench.server import BENCH_IP_HASH_SECRET, Server, migrate, server_env

# The tests' own helpers (the standard library only); tests/ is no package.
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from haproxy import Haproxy, Target, haproxy_in_front_of
from pg_cluster import PostgresCluster, standby_of, throwaway_cluster

DATABASE = "videolikes_bench"
# Durable, with PostgreSQL's default sizes, as a deployment (and the server `make bench` uses)
# has them, instead of the throwaway cluster's quick settings; room for every instance's pools.
PRIMARY_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_buffers": "128MB",
    "max_wal_size": "1GB",
    "max_connections": "300",
}
_WAL_POSITION = "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"
_CATCH_UP_TIMEOUT = 60.0
# PostgreSQL 15 flushes a backend's statistics at most once a second.
_STATS_FLUSH_SECONDS = 1.5


@dataclass(frozen=True)
class Layout:
    instances: int
    replicas: int
    via_haproxy: bool

    @property
    def label(self) -> str:
        route = "via haproxy" if self.via_haproxy else "direct"
        instances = f"{self.instances} instance{'s' if self.instances > 1 else ''}"
        replicas = f"{self.replicas} replica{'' if self.replicas == 1 else 's'}"
        return f"{instances} {route}, {replicas}"


def layouts(instances: int, replica_counts: Sequence[int]) -> list[Layout]:
    """One instance direct, then through haproxy (haproxy's own cost), then `instances`
    through haproxy for each replica count."""
    return [
        Layout(instances=1, replicas=0, via_haproxy=False),
        *([Layout(instances=1, replicas=0, via_haproxy=True)] if instances > 1 else []),
        *(Layout(instances, count, via_haproxy=True) for count in replica_counts),
    ]


def _replica_counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


async def _fetch(url: str, query: str) -> int:
    conn = await asyncpg.connect(data.asyncpg_dsn(url), timeout=10)
    try:
        return int(await conn.fetchval(query) or 0)
    finally:
        await conn.close()


def _transactions(url: str) -> int:
    query = (
        "SELECT xact_commit + xact_rollback FROM pg_stat_database"
        " WHERE datname = current_database()"
    )
    return asyncio.run(_fetch(url, query))


def _wait_until_caught_up(primary_url: str, replica_urls: Sequence[str]) -> None:
    target = asyncio.run(_fetch(primary_url, _WAL_POSITION))
    deadline = time.monotonic() + _CATCH_UP_TIMEOUT
    for url in replica_urls:
        while asyncio.run(_fetch(url, "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")) < target:
            if time.monotonic() > deadline:
                raise TimeoutError("a replica did not catch up with the primary")
            time.sleep(0.2)


@contextmanager
def _running(
    layout: Layout, *, primary: PostgresCluster, args: argparse.Namespace, run_dir: Path
) -> Iterator[tuple[str, list[Server], Haproxy | None, dict[str, str]]]:
    """The layout's replicas, instances and haproxy; the URL to load and the database URLs."""
    primary_url = data.with_database(primary.url(), DATABASE)
    with ExitStack() as stack:
        if layout.replicas:
            # pg_basebackup starts with a spread checkpoint, which on a freshly loaded
            # database can take minutes; with one done just before it has nothing to write.
            asyncio.run(_fetch(primary_url, "CHECKPOINT"))
        replicas = [
            stack.enter_context(standby_of(primary, name=f"replica{index + 1}"))
            for index in range(layout.replicas)
        ]
        databases = {"primary": primary_url} | {
            f"replica{index + 1}": data.with_database(replica.url(), DATABASE)
            for index, replica in enumerate(replicas)
        }
        replica_urls = [url for name, url in databases.items() if name != "primary"]
        _wait_until_caught_up(primary_url, replica_urls)
        # Shared by every worker of every instance, as deployed (rate limits stay off here).
        env = {
            **server_env(primary_url, args.env),
            "REDIS_URL": stack.enter_context(private_redis()),
        }
        if replica_urls:
            env["DATABASE_REPLICA_URLS"] = " ".join(replica_urls)
        log = run_dir / "server.log"
        servers = [
            stack.enter_context(Server(workers=args.workers, env=env, log_path=log))
            for _ in range(layout.instances)
        ]
        balancer = None
        if layout.via_haproxy:
            targets = [Target(f"i{n + 1}", server.port) for n, server in enumerate(servers)]
            balancer = stack.enter_context(
                haproxy_in_front_of(targets, log=run_dir / "haproxy.log")
            )
        yield (balancer.url if balancer else servers[0].base_url), servers, balancer, databases


def _measure(
    scenario: Scenario,
    *,
    base_url: str,
    servers: list[Server],
    balancer: Haproxy | None,
    databases: dict[str, str],
    args: argparse.Namespace,
    run_dir: Path,
    outcome: topology_report.Outcome,
) -> None:
    common: dict[str, Any] = {
        "base_url": base_url,
        "method": scenario.method,
        "paths_file": scenario.write_paths(run_dir),
        "clients": scenario.clients,
        "connections": args.connections,
        "threads": args.threads,
    }
    if args.warmup > 0:
        loadgen.wrk(seconds=args.warmup, **common)
    time.sleep(_STATS_FLUSH_SECONDS)
    transactions = {name: _transactions(url) for name, url in databases.items()}
    before = balancer.stats() if balancer else {}
    groups = [server.process_group for server in servers]
    server_before = sum(cpu.process_group_cpu(group) for group in groups)
    haproxy_pid = [balancer.process.pid] if balancer else []
    haproxy_before = sum(cpu.processes_cpu(haproxy_pid).values())
    wal_before = asyncio.run(_fetch(databases["primary"], _WAL_POSITION))
    result = loadgen.wrk(seconds=args.duration, **common)
    wal_bytes = asyncio.run(_fetch(databases["primary"], _WAL_POSITION)) - wal_before
    server_seconds = sum(cpu.process_group_cpu(group) for group in groups) - server_before
    haproxy_seconds = sum(cpu.processes_cpu(haproxy_pid).values()) - haproxy_before
    requests = max(result.requests, 1)
    outcome.wal_bytes_per_request.append(wal_bytes / requests)
    outcome.runs.append(
        loadgen.LoadResult(**{**asdict(result), "server_cpu_us": server_seconds / requests * 1e6})
    )
    if balancer:
        outcome.haproxy_cpu_us.append(haproxy_seconds / requests * 1e6)
        outcome.per_instance = {
            name: stats.requests - before[name].requests for name, stats in balancer.stats().items()
        }
    time.sleep(_STATS_FLUSH_SECONDS)
    outcome.per_database = {
        name: _transactions(url) - transactions[name] for name, url in databases.items()
    }


def main(args: argparse.Namespace) -> None:
    scale = data.SMALL
    only = {key.strip().upper() for key in args.only.split(",") if key.strip()} or {"S1", "S2"}
    plan = layouts(args.instances, _replica_counts(args.replicas))
    run_dir = new_run_dir("topology")
    print(
        f"videolikes topology benchmark: {', '.join(layout.label for layout in plan)};"
        f" {args.workers} workers per instance; scenarios {', '.join(sorted(only))},"
        f" {args.runs} run(s) of {args.warmup:g} s warm-up + {args.duration:g} s; in {run_dir}",
        flush=True,
    )
    outcomes: list[topology_report.Outcome] = []
    with throwaway_cluster(PRIMARY_SETTINGS) as primary:
        data.recreate_database(primary.url(), DATABASE)
        url = data.with_database(primary.url(), DATABASE)
        migrate(url, run_dir / "server.log")
        data.load(url, scale, BENCH_IP_HASH_SECRET)
        for layout in plan:
            with _running(layout, primary=primary, args=args, run_dir=run_dir) as running:
                base_url, servers, balancer, databases = running
                for scenario in scenarios(scale, base_url):
                    if scenario.key not in only or not isinstance(scenario, Scenario):
                        continue
                    outcome = topology_report.Outcome(layout.label, scenario.key)
                    for _ in range(args.runs):
                        data.reset(url, scale)
                        _measure(
                            scenario,
                            base_url=base_url,
                            servers=servers,
                            balancer=balancer,
                            databases=databases,
                            args=args,
                            run_dir=run_dir,
                            outcome=outcome,
                        )
                        if scenario.writes:
                            outcome.drifts.append(data.drift(url))
                    outcomes.append(outcome)
                    print(outcome.line(), flush=True)
    topology_report.save(outcomes, run_dir)
