"""Status reads (S1) with 0, 1 and 2 read replicas: `python -m bench.replica_reads`.

Makes a PostgreSQL primary of its own (initdb, on a free port), migrates and fills it as
`make bench` does, and for each replica count makes that many streaming standbys of it
(pg_basebackup -R), starts `videolikes serve` with DATABASE_REPLICA_URLS naming them (and
REDIS_URL, which several workers need with replicas), waits until /ready calls each usable,
and runs S1 with wrk. Prints requests/s, p50, p99, non-2xx and which server answered the
reads (from /metrics); writes bench/results/<time>-replica-reads/. Everything it started is
stopped and removed at the end. All servers share this one machine, so the figures say what
replicas cost and save here, not what separate machines would give.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import data, loadgen
from bench.report import new_run_dir
from bench.scenarios import Scenario
from bench.server import BENCH_IP_HASH_SECRET, Server, migrate, server_env

# The cluster is the tests' own helper (the standard library only); tests/ is no package.
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from pg_cluster import standby_of, throwaway_cluster

_USABLE_TIMEOUT = 30.0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_reads", description=__doc__)
    parser.add_argument("--replicas", default="0,1,2", help="replica counts, comma-separated")
    parser.add_argument("--duration", type=float, default=15, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3, help="thrown-away seconds before")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=1, help="repeat every count, in turn")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"),
        help="the Redis the servers with replicas remember clients' writes in",
    )
    return parser.parse_args()


def _reads_by_server(base_url: str) -> dict[str, float]:
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "videolikes_db_reads_total":
                found[sample.labels["server"]] = sample.value
    return found


def _wait_until_usable(base_url: str, replicas: int) -> None:
    deadline = time.monotonic() + _USABLE_TIMEOUT
    while time.monotonic() < deadline:
        body = httpx.get(f"{base_url}/ready", timeout=5).json()
        states = [replica["state"] for replica in (body.get("replicas") or {}).values()]
        if len(states) == replicas and all(state == "usable" for state in states):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the replicas were not usable within {_USABLE_TIMEOUT:.0f} s")


def _measure(
    args: argparse.Namespace, scenario: Scenario, base_url: str, run_dir: Path
) -> loadgen.LoadResult:
    common: dict[str, Any] = {
        "base_url": base_url,
        "method": scenario.method,
        "paths_file": scenario.write_paths(run_dir),
        "clients": scenario.clients,
        "connections": args.connections,
        "threads": 1,
    }
    if args.warmup > 0:
        loadgen.wrk(seconds=args.warmup, **common)
    return loadgen.wrk(seconds=args.duration, **common)


def main() -> None:
    args = _arguments()
    counts = [int(count) for count in args.replicas.split(",")]
    run_dir = new_run_dir("replica-reads")
    log = run_dir / "server.log"
    status = Scenario(
        "S1",
        "GET like status, random video and client",
        "GET",
        tuple(f"/api/videos/{data.video_id(i)}/like" for i in range(1, data.SMALL.videos + 1)),
    )
    rows = []
    with throwaway_cluster() as primary:
        url = primary.url()
        migrate(url, log)
        data.load(url, data.SMALL, BENCH_IP_HASH_SECRET)
        for run in range(1, args.runs + 1):
            for count in counts:
                with ExitStack() as standbys:
                    replicas = [
                        standbys.enter_context(standby_of(primary, name=f"replica{n}"))
                        for n in range(count)
                    ]
                    extra = []
                    if replicas:
                        urls = " ".join(replica.url() for replica in replicas)
                        extra = [f"DATABASE_REPLICA_URLS={urls}", f"REDIS_URL={args.redis_url}"]
                    env = server_env(url, extra)
                    with Server(workers=args.workers, env=env, log_path=log) as server:
                        if replicas:
                            _wait_until_usable(server.base_url, count)
                        before = _reads_by_server(server.base_url)
                        result = _measure(args, status, server.base_url, run_dir)
                        after = _reads_by_server(server.base_url)
                answered = {name: after[name] - before.get(name, 0.0) for name in sorted(after)}
                row = {"run": run, "replicas": count, **asdict(result), "reads": answered}
                rows.append(row)
                shares = ", ".join(f"{name} {reads:.0f}" for name, reads in answered.items())
                print(
                    f"run {run}, {count} replica(s): {result.requests_per_second:8.0f} req/s"
                    f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                    f"  non-2xx {result.non_2xx}  reads: {shares or 'not counted'}",
                    flush=True,
                )
    (run_dir / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"results in {run_dir}")


if __name__ == "__main__":
    main()
