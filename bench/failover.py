"""Failover under a load of likes: `python -m bench.failover`; `--help` for options.

For each kind of replication (synchronous: the primary acknowledges a commit once its
standby has the WAL; asynchronous: once it has it itself) and each standby lag (none, and
the primary's WAL sender frozen for `--lag` seconds, as a standby falls behind on a slow or
broken link), makes a primary and a streaming standby of its own, starts a real
`videolikes serve` on DATABASE_URL listing both (target_session_attrs=read-write), keeps
clients PUTting likes, each like by a visitor of its own, kills the primary (SIGKILL),
promotes the standby (pg_ctl promote) and goes on until writes serve again.

Prints, per run, the likes acknowledged (200), how many of those the promoted standby holds
and how many it lost, its counter drift, the writes' answers during the outage and the
slowest of them, and how long after the promotion the first like answered 200; writes
bench/results/<time>-failover/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.report import new_run_dir, run_stamp
from bench.server import (
    BENCH_IP_HASH_SECRET,
    Server,
    add_env_option,
    migrate,
    seed_demo,
    server_env,
)

# The cluster and the load are the tests' own helpers; tests/ is no package.
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from acknowledged_likes import (
    REPLICATION,
    STANDBY,
    STANDBY_SETTINGS,
    fail_over_under_load,
    survival,
    until_streaming,
)
from pg_cluster import cluster_template, server_list_url, standby_of, throwaway_cluster


@dataclass(frozen=True)
class Run:
    replication: str
    lag_seconds: float
    acknowledged: int
    present: int
    lost: int
    rows: int
    drift: int
    outage_answers: dict[str, int]
    outage_slowest_seconds: float
    promote_seconds: float
    first_200_after_promote_seconds: float | None

    def line(self) -> str:
        answers = ", ".join(f"{n} x {status}" for status, n in sorted(self.outage_answers.items()))
        resumed = (
            "never"
            if self.first_200_after_promote_seconds is None
            else f"{self.first_200_after_promote_seconds:.2f} s"
        )
        return (
            f"{self.replication:<12} {self.lag_seconds:>4.1f} s  {self.acknowledged:>6,} "
            f"{self.present:>7,} {self.lost:>5,} {self.drift:>5}  {resumed:>8}  "
            f"{self.promote_seconds:>5.2f} s  {self.outage_slowest_seconds:>5.2f} s  {answers}"
        )


_HEADER = (
    "replication  lag    acked present  lost drift  resumed   promote  slowest  "
    "writes answered from the kill to the first 200"
)


def _one_run(
    args: argparse.Namespace, template: Path, replication: str, lag: float, log: Path
) -> Run:
    with (
        throwaway_cluster(REPLICATION[replication], template=template) as primary,
        standby_of(primary, name=STANDBY, settings=STANDBY_SETTINGS) as standby,
    ):
        sync_state = "sync" if replication == "synchronous" else "async"
        asyncio.run(until_streaming(primary, sync_state=sync_state))
        migrate(primary.url(), log)
        env = server_env(server_list_url(primary, standby), args.env)
        seed_demo(env, log)
        with Server(workers=args.workers, env=env, log_path=log) as server:
            failover = asyncio.run(
                fail_over_under_load(
                    primary,
                    standby,
                    server.base_url,
                    clients=args.clients,
                    before=args.before,
                    lag=lag,
                    down=args.down,
                    after=args.after,
                )
            )
        held = asyncio.run(
            survival(
                standby.url(scheme="postgresql"),
                failover.answers,
                ip_hash_secret=BENCH_IP_HASH_SECRET,
            )
        )
    outage = failover.outage()
    return Run(
        replication=replication,
        lag_seconds=lag,
        acknowledged=held.acknowledged,
        present=held.present,
        lost=held.lost,
        rows=held.rows,
        drift=held.drift,
        outage_answers={
            "no answer" if status is None else str(status): n
            for status, n in outage.statuses.items()
        },
        outage_slowest_seconds=outage.slowest_seconds,
        promote_seconds=failover.promoted - failover.promoting,
        first_200_after_promote_seconds=outage.resumed_seconds,
    )


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.failover", description=__doc__)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--before", type=float, default=3.0, help="seconds of load first")
    parser.add_argument(
        "--lag", type=float, default=1.0, help="seconds the standby falls behind before the kill"
    )
    parser.add_argument(
        "--down", type=float, default=1.0, help="seconds from the kill to the promotion"
    )
    parser.add_argument(
        "--after", type=float, default=2.0, help="seconds of load once writes serve again"
    )
    add_env_option(parser, example="DATABASE_TIMEOUT=3")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    run_dir = new_run_dir("failover")
    log = run_dir / "server.log"
    print(f"videolikes through a failover; server log and results in {run_dir}", flush=True)
    print(_HEADER, flush=True)
    runs = []
    with cluster_template() as template:
        for replication in REPLICATION:
            for lag in (0.0, args.lag):
                runs.append(_one_run(args, template, replication, lag, log))
                print(runs[-1].line(), flush=True)
    document = {
        "settings": {**vars(args), "date": run_stamp(run_dir)},
        "runs": [asdict(run) for run in runs],
    }
    (run_dir / "results.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
