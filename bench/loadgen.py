"""The two load generators: wrk against the service, pgbench against PostgreSQL alone."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.data import PGBENCH_IP_HASH_BASE, VIDEO_ID_BASE, asyncpg_dsn
from videolikes.db.driver import Numbered
from videolikes.likes.repository import batch_writes, status_reads

SCENARIO_LUA = Path(__file__).with_name("scenario.lua")
_WRK_TIMEOUT = "10s"


@dataclass(frozen=True)
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    requests: int
    # CPU time per request of the server's processes and of its PostgreSQL backends.
    server_cpu_us: float = 0.0
    postgres_cpu_us: float = 0.0


def require_tools() -> None:
    """Stop early, with the fix, when wrk or pgbench is not installed."""
    missing = [tool for tool in ("wrk", "pgbench") if shutil.which(tool) is None]
    if missing:
        packages = " ".join("postgresql-client" if tool == "pgbench" else tool for tool in missing)
        sys.exit(
            f"missing {', '.join(missing)}: install with `sudo apt-get install -y {packages}`"
            " (Debian/Ubuntu packages)"
        )


def wrk(
    *,
    base_url: str,
    method: str,
    paths_file: Path,
    clients: int,
    seconds: float,
    connections: int,
    threads: int,
) -> LoadResult:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={_WRK_TIMEOUT}",
        "-s",
        str(SCENARIO_LUA),
        base_url,
        "--",
        method,
        str(paths_file),
        str(clients),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((row for row in output.splitlines() if row.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    return LoadResult(
        requests_per_second=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        non_2xx=raw["non_2xx"],
        socket_errors=raw["socket_errors"],
        requests=raw["requests"],
    )


def _pgbench_statement(sql: str) -> str:
    # pgbench binds `:name` as a parameter in prepared mode, just as SQLAlchemy binds it for
    # asyncpg; the statement text is the repository's own, only folded onto fewer lines.
    return " ".join(sql.split()) + ";\n"


# What a batch of one read or one toggle sends for each array parameter, in pgbench's variables.
_ONE_ITEM = {
    "video_ids": "ARRAY[:video_id::text]",
    "ip_hashes": "ARRAY[:ip_hash::text]",
    # A client videolikes knows, on a database with no legacy lookup: no re-keyed hash.
    "legacy_hashes": "ARRAY[NULL::text]",
    "usernames": "ARRAY[:username::text]",
    "positions": "ARRAY[0]",
    "ops": "ARRAY['toggle']",
}


def _one_item(statement: Numbered) -> str:
    """A batch statement as the service sends it for a batch of one."""

    def element(match: re.Match[str]) -> str:
        return _ONE_ITEM[statement.names[int(match.group(1)) - 1]]

    return _pgbench_statement(re.sub(r"\$(\d+)", element, statement.sql))


def pgbench_scripts(directory: Path, videos: int) -> dict[str, Path]:
    """One S1 status read and one S2 toggle, with random videos and clients as in wrk.

    Each is the service's own statements for a batch of one: what a lone request costs
    PostgreSQL. Under load the service serves many requests with one such batch.
    """
    header = (
        f"\\set video_id {VIDEO_ID_BASE} + random(1, {videos})\n"
        f"\\set ip_hash {PGBENCH_IP_HASH_BASE} + random(200001, 400000)\n"
    )
    # The repository's own statements, so that a change to them changes the yardstick too.
    scripts = {
        "status": _one_item(status_reads.LIKE_STATUSES),
        "toggle": "".join(_one_item(statement) for statement in batch_writes.LIKE_WRITE_STATEMENTS),
    }
    paths = {}
    for name, script in scripts.items():
        path = directory / f"pgbench-{name}.sql"
        path.write_text(header + script)
        paths[name] = path
    return paths


@dataclass(frozen=True)
class PgbenchResult:
    transactions_per_second: float
    latency_ms: float
    failed: int


def pgbench(*, url: str, script: Path, clients: int, seconds: float) -> PgbenchResult:
    command = [
        "pgbench",
        "--no-vacuum",
        "--protocol=prepared",
        f"--client={clients}",
        f"--jobs={min(clients, 2)}",
        f"--time={max(1, round(seconds))}",
        "--define=username=@user-pgbnch",
        f"--file={script}",
        asyncpg_dsn(url),
    ]
    # Planned per execution, as the service's connections are (see videolikes.db.units).
    env = {**os.environ, "PGOPTIONS": "-c plan_cache_mode=force_custom_plan"}
    run = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    output = run.stdout + run.stderr
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if run.returncode != 0 or tps is None or latency is None:
        raise RuntimeError(f"pgbench failed:\n{output}")
    return PgbenchResult(
        transactions_per_second=float(tps.group(1)),
        latency_ms=float(latency.group(1)),
        failed=int(failed.group(1)) if failed else 0,
    )
