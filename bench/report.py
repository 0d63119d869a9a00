"""The results table, the bar it is held to, and the files a run leaves in bench/results/."""

from __future__ import annotations

import datetime
import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult, PgbenchResult

RESULTS = Path(__file__).with_name("results")


def new_run_dir(kind: str) -> Path:
    """A new folder of bench/results/ for one run, named by its start time and `kind`."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = RESULTS / f"{stamp}-{kind}"
    run_dir.mkdir(parents=True)
    return run_dir


def run_stamp(run_dir: Path) -> str:
    """When the run of a new_run_dir() folder started, as its name says: YYYYmmdd-HHMMSS."""
    return "-".join(run_dir.name.split("-", 2)[:2])


@dataclass(frozen=True)
class Bar:
    """What a scenario must reach on the reference machine (2 cores, PostgreSQL 15)."""

    min_rps: float
    max_p99_ms: float | None = None
    min_share_of_pgbench: float | None = None


BARS = {
    "S1": Bar(min_rps=6_000, max_p99_ms=36),
    "S2": Bar(min_rps=2_700, max_p99_ms=77, min_share_of_pgbench=0.70),
    "S3": Bar(min_rps=4_800, max_p99_ms=227),
    "S4": Bar(min_rps=2_520, max_p99_ms=76),
    "S5": Bar(min_rps=3_800),
}
# Which pgbench script does the same work as a scenario, for the "% of PostgreSQL" column.
PGBENCH_FOR = {"S1": "status", "S2": "toggle"}


@dataclass
class Row:
    key: str
    title: str
    runs: list[LoadResult]
    drifts: list[int]
    note: str = ""

    @property
    def rps(self) -> float:
        return statistics.median(run.requests_per_second for run in self.runs)

    @property
    def p50_ms(self) -> float:
        return statistics.median(run.p50_ms for run in self.runs)

    @property
    def p99_ms(self) -> float:
        return statistics.median(run.p99_ms for run in self.runs)

    @property
    def server_cpu_us(self) -> float:
        return statistics.median(run.server_cpu_us for run in self.runs)

    @property
    def postgres_cpu_us(self) -> float:
        return statistics.median(run.postgres_cpu_us for run in self.runs)

    @property
    def non_2xx(self) -> int:
        # The worst run, not the median: one failed answer in any run breaks the bar.
        return max(run.non_2xx + run.socket_errors for run in self.runs)

    @property
    def drift(self) -> int | None:
        return max(self.drifts) if self.drifts else None


def _median_tps(results: list[PgbenchResult]) -> float:
    return statistics.median(result.transactions_per_second for result in results)


def verdict(row: Row, pgbench: dict[str, list[PgbenchResult]]) -> str:
    failures = []
    if row.non_2xx:
        failures.append("errors")
    if row.drift:
        failures.append("drift")
    bar = BARS.get(row.key)
    if bar is not None:
        if row.rps < bar.min_rps:
            failures.append(f"< {bar.min_rps:,.0f}/s")
        if bar.max_p99_ms is not None and row.p99_ms > bar.max_p99_ms:
            failures.append(f"p99 > {bar.max_p99_ms:.0f} ms")
        name = PGBENCH_FOR.get(row.key)
        share = bar.min_share_of_pgbench
        limit = _median_tps(pgbench[name]) if name and pgbench.get(name) else None
        if share is not None and limit is not None and row.rps < share * limit:
            failures.append(f"< {share:.0%} of pgbench")
    return "not met: " + ", ".join(failures) if failures else "met"


def table(rows: list[Row], pgbench: dict[str, list[PgbenchResult]], *, with_bar: bool) -> str:
    header = ["scenario", "req/s", "p50 ms", "p99 ms", "non-2xx", "drift", "% of pgbench"]
    header += ["CPU µs/req server", "CPU µs/req PostgreSQL"]
    if with_bar:
        header.append("bar")
    lines = [header, ["---"] * len(header)]
    for row in rows:
        if not row.runs:
            lines.append([f"{row.key} {row.title}", "skipped", "", "", "", "", row.note, "", ""])
            lines[-1] += [""] if with_bar else []
            continue
        name = PGBENCH_FOR.get(row.key)
        share = f"{row.rps / _median_tps(pgbench[name]):.0%}" if name and pgbench.get(name) else ""
        cells = [
            f"{row.key} {row.title}",
            f"{row.rps:,.0f}",
            f"{row.p50_ms:.1f}",
            f"{row.p99_ms:.1f}",
            str(row.non_2xx),
            "" if row.drift is None else str(row.drift),
            share,
            f"{row.server_cpu_us:.0f}",
            f"{row.postgres_cpu_us:.0f}",
        ]
        if with_bar:
            cells.append(verdict(row, pgbench))
        lines.append(cells)
    for name, results in pgbench.items():
        if not results:
            continue
        failed = max(result.failed for result in results)
        latency = statistics.median(result.latency_ms for result in results)
        cells = [
            f"pgbench {name} (PostgreSQL alone)",
            f"{_median_tps(results):,.0f}",
            f"{latency:.1f} (avg)",
            "",
            f"{failed} failed",
            "",
            "100%",
            "",
            "",
        ]
        lines.append(cells + ([""] if with_bar else []))
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def save(
    directory: Path,
    *,
    settings: dict[str, Any],
    rows: list[Row],
    pgbench: dict[str, list[PgbenchResult]],
    rendered: str,
) -> None:
    document = {
        "settings": settings,
        "scenarios": [
            {
                "key": row.key,
                "title": row.title,
                "note": row.note,
                "runs": [asdict(run) for run in row.runs],
                "drift": row.drifts,
            }
            for row in rows
        ],
        "pgbench": {name: [asdict(r) for r in results] for name, results in pgbench.items()},
    }
    (directory / "results.json").write_text(json.dumps(document, indent=2) + "\n")
    (directory / "table.md").write_text(rendered + "\n")
