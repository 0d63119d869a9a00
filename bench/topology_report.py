"""What `python -m bench --topology` measured per layout and scenario: lines, a summary, files."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import loadgen


@dataclass
class Outcome:
    layout: str
    scenario: str
    runs: list[loadgen.LoadResult] = field(default_factory=list)
    drifts: list[int] = field(default_factory=list)
    haproxy_cpu_us: list[float] = field(default_factory=list)
    wal_bytes_per_request: list[float] = field(default_factory=list)
    # Requests each instance answered (haproxy's counts); transactions per database server.
    per_instance: dict[str, int] = field(default_factory=dict)
    per_database: dict[str, int] = field(default_factory=dict)

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(run, name) for run in self.runs))

    def line(self) -> str:
        shares = ", ".join(f"{name} {count:,}" for name, count in self.per_instance.items())
        servers = ", ".join(f"{name} {count:,}" for name, count in self.per_database.items())
        haproxy = (
            f", haproxy {statistics.median(self.haproxy_cpu_us):.0f} us"
            if self.haproxy_cpu_us
            else ""
        )
        return (
            f"{self.layout:<40} {self.scenario}: {self.median('requests_per_second'):>7,.0f} req/s,"
            f" p50 {self.median('p50_ms'):.1f} ms, p99 {self.median('p99_ms'):.1f} ms,"
            f" non-2xx {max(r.non_2xx + r.socket_errors for r in self.runs)}"
            + (f", drift {max(self.drifts)}" if self.drifts else "")
            + f"; CPU/request: instances {self.median('server_cpu_us'):.0f} us{haproxy}"
            + f"; WAL/request {statistics.median(self.wal_bytes_per_request):,.0f} B"
            + (f"; requests by instance: {shares}" if shares else "")
            + f"; transactions by server: {servers}"
        )


def save(outcomes: list[Outcome], run_dir: Path) -> None:
    """Print the S1 figures by layout; write topology.json and topology.txt to `run_dir`."""
    lines = ["", "S1 status reads by replica count (medians):"]
    lines += [
        f"  {o.layout}: {o.median('requests_per_second'):,.0f} req/s,"
        f" p99 {o.median('p99_ms'):.1f} ms; transactions by server: {o.per_database}"
        for o in outcomes
        if o.scenario == "S1"
    ]
    print("\n".join(lines))
    (run_dir / "topology.json").write_text(
        json.dumps(
            [
                {
                    "layout": o.layout,
                    "scenario": o.scenario,
                    "runs": [asdict(run) for run in o.runs],
                    "drifts": o.drifts,
                    "haproxy_cpu_us": o.haproxy_cpu_us,
                    "wal_bytes_per_request": o.wal_bytes_per_request,
                    "per_instance": o.per_instance,
                    "per_database": o.per_database,
                }
                for o in outcomes
            ],
            indent=2,
        )
    )
    (run_dir / "topology.txt").write_text("\n".join(o.line() for o in outcomes) + "\n")
