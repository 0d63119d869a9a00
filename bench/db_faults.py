"""PostgreSQL faults under load: `python -m bench.db_faults`; `--help` for options.

Makes a PostgreSQL cluster of its own, migrates it and adds the demo videos, starts a real
`videolikes serve` on it and keeps a steady stream of requests going while it (a) restarts
the database a few times and (b) freezes it (SIGSTOP on every one of its processes), then
thaws it. Prints, per fault, the answers by status and the slowest, /ready's answers
meanwhile, and how long after the thaw every answer was 200 again; writes
bench/results/<time>-db-faults/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bench.data import client_ip
from bench.report import new_run_dir, run_stamp
from bench.server import Server, add_env_option, migrate, seed_demo, server_env

# The cluster is the tests' own helper (the standard library only); tests/ is no package.
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from pg_cluster import PostgresCluster, throwaway_cluster

VIDEOS = [f"DEMO{n:08d}" for n in range(1, 37)]
# Long enough to see how long a frozen database keeps a client waiting.
_REQUEST_TIMEOUT = 60.0
_READY_EVERY = 0.2
_QUIET_GAP = 1.0


@dataclass(frozen=True)
class Answer:
    sent: float
    seconds: float
    # None: no HTTP answer at all (connection refused or reset, or the client's timeout).
    status: int | None
    route: str

    @property
    def finished(self) -> float:
        return self.sent + self.seconds


@dataclass(frozen=True)
class Figures:
    requests: int
    ok: int
    unavailable: int
    server_errors: int
    other: int
    slowest_seconds: float
    slowest: str
    ready: str
    ready_slowest_seconds: float

    def lines(self) -> list[str]:
        return [
            f"  {self.requests:,} requests: {self.ok:,} x 200, {self.unavailable:,} x 503, "
            f"{self.server_errors:,} x 500, {self.other:,} other",
            f"  slowest answer {self.slowest_seconds:.2f} s ({self.slowest})",
            f"  /ready meanwhile: {self.ready}; slowest {self.ready_slowest_seconds:.2f} s",
        ]


def _status_name(status: int | None) -> str:
    return "no answer" if status is None else str(status)


def _figures(answers: list[Answer], ready: list[Answer]) -> Figures:
    statuses = Counter(answer.status for answer in answers)
    slowest = max(answers, key=lambda answer: answer.seconds)
    ready_statuses = sorted(Counter(answer.status for answer in ready).items(), key=str)
    return Figures(
        requests=len(answers),
        ok=statuses[200],
        unavailable=statuses[503],
        server_errors=statuses[500],
        other=len(answers) - statuses[200] - statuses[503] - statuses[500],
        slowest_seconds=slowest.seconds,
        slowest=f"{slowest.route} -> {_status_name(slowest.status)}",
        ready=", ".join(f"{count} x {_status_name(status)}" for status, count in ready_statuses),
        ready_slowest_seconds=max((answer.seconds for answer in ready), default=0.0),
    )


def _route(method: str, path: str) -> str:
    """The route's template, as the metrics name it."""
    parts = path.split("?")[0].split("/")
    if len(parts) > 3 and parts[1:3] == ["api", "videos"]:
        parts[3] = "{videoId}"
    return f"{method} {'/'.join(parts)}"


class Traffic:
    """Clients that each send one request after another, and a /ready poller; all recorded."""

    def __init__(self, base_url: str, clients: int) -> None:
        self.answers: list[Answer] = []
        self.ready: list[Answer] = []
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=_REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=clients + 1),
        )
        self._clients = clients
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Traffic:
        self._tasks = [asyncio.create_task(self._client(n)) for n in range(1, self._clients + 1)]
        self._tasks.append(asyncio.create_task(self._poll_ready()))
        return self

    async def __aexit__(self, *_: object) -> None:
        """Stop sending, and wait for every request in flight (at most the clients' timeout)."""
        self._stopping.set()
        await asyncio.gather(*self._tasks)
        await self._http.aclose()

    async def _client(self, n: int) -> None:
        headers = {"X-Forwarded-For": client_ip(n)}
        turn = n
        while not self._stopping.is_set():
            video = VIDEOS[turn % len(VIDEOS)]
            method, path = [
                ("GET", f"/api/videos/{video}/like"),
                ("POST", f"/api/videos/{video}/like"),
                ("GET", f"/api/videos/{video}"),
                ("GET", f"/api/me/likes?ids={video}"),
                ("GET", "/api/videos?limit=5"),
            ][turn % 5]
            turn += 1
            self.answers.append(await self._send(method, path, headers))

    async def _poll_ready(self) -> None:
        while not self._stopping.is_set():
            self.ready.append(await self._send("GET", "/ready", {}))
            await asyncio.sleep(_READY_EVERY)

    async def _send(self, method: str, path: str, headers: dict[str, str]) -> Answer:
        sent = time.monotonic()
        status: int | None = None
        try:
            status = (await self._http.request(method, path, headers=headers)).status_code
        except httpx.TransportError:
            # No busy loop while the server refuses connections.
            await asyncio.sleep(0.05)
        return Answer(sent, time.monotonic() - sent, status, _route(method, path))


@dataclass(frozen=True)
class Moments:
    restart_began: float
    restart_ended: float
    frozen: float
    thawed: float


async def _faults(args: argparse.Namespace, cluster: PostgresCluster, traffic: Traffic) -> Moments:
    await asyncio.sleep(args.around)
    restart_began = time.monotonic()
    for restart in range(args.restarts):
        if restart:
            await asyncio.sleep(args.around)
        await asyncio.to_thread(cluster.restart, "fast")
    restart_ended = time.monotonic()
    # The restart's figures take what is sent until `around` after it; none may meet the freeze.
    await asyncio.sleep(args.around + _QUIET_GAP)
    cluster.freeze()
    frozen = time.monotonic()
    try:
        await asyncio.sleep(args.freeze)
    finally:
        cluster.thaw()
    thawed = time.monotonic()
    await asyncio.sleep(args.around)
    return Moments(restart_began, restart_ended, frozen, thawed)


@dataclass(frozen=True)
class Report:
    restart: Figures
    freeze: Figures
    # Since the thaw: until the first 200, and until every request sent answered 200.
    first_200_after_thaw_seconds: float | None
    all_200_after_thaw_seconds: float | None


def _report(traffic: Traffic, moments: Moments, around: float) -> Report:
    def sent_between(answers: list[Answer], start: float, end: float) -> list[Answer]:
        return [a for a in answers if start <= a.sent < end]

    restart_window = (moments.restart_began - around, moments.restart_ended + around)

    def met_the_freeze(answers: list[Answer]) -> list[Answer]:
        # Waiting when it froze, or sent while it was frozen (answered then or after the thaw).
        return [a for a in answers if a.finished > moments.frozen and a.sent < moments.thawed]

    since_thaw = [a for a in traffic.answers if a.sent >= moments.thawed]
    first_200 = min((a.finished for a in since_thaw if a.status == 200), default=None)
    failed = [a.finished for a in since_thaw if a.status != 200]
    all_200 = None if first_200 is None else max([moments.thawed, *failed])
    return Report(
        restart=_figures(
            sent_between(traffic.answers, *restart_window),
            sent_between(traffic.ready, *restart_window),
        ),
        freeze=_figures(met_the_freeze(traffic.answers), met_the_freeze(traffic.ready)),
        first_200_after_thaw_seconds=None if first_200 is None else first_200 - moments.thawed,
        all_200_after_thaw_seconds=None if all_200 is None else all_200 - moments.thawed,
    )


def _print(report: Report, args: argparse.Namespace) -> None:
    print(f"(a) {args.restarts} restarts (pg_ctl restart -m fast) under load:")
    print("\n".join(report.restart.lines()))
    print(f"(b) freeze (SIGSTOP on every PostgreSQL process) for {args.freeze:g} s under load:")
    print("\n".join(report.freeze.lines()))
    if report.first_200_after_thaw_seconds is None or report.all_200_after_thaw_seconds is None:
        print("  after the thaw: no request answered 200")
        return
    print(
        f"  after the thaw: the first 200 after {report.first_200_after_thaw_seconds:.2f} s; "
        f"every request sent since answered 200 from {report.all_200_after_thaw_seconds:.2f} s"
    )


async def _measure(args: argparse.Namespace, cluster: PostgresCluster, base_url: str) -> Report:
    traffic = Traffic(base_url, args.clients)
    async with traffic:
        moments = await _faults(args, cluster, traffic)
    return _report(traffic, moments, args.around)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.db_faults", description=__doc__)
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--restarts", type=int, default=3, help="restarts, `around` apart")
    parser.add_argument("--freeze", type=float, default=10.0, help="seconds frozen")
    parser.add_argument(
        "--around", type=float, default=3.0, help="seconds of plain load before each fault"
    )
    add_env_option(parser, example="DATABASE_TIMEOUT=3")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    run_dir = new_run_dir("db-faults")
    log = run_dir / "server.log"
    print(f"videolikes under PostgreSQL faults; server log and results in {run_dir}", flush=True)
    with throwaway_cluster() as cluster:
        url = cluster.url()
        migrate(url, log)
        env = server_env(url, args.env)
        seed_demo(env, log)
        with Server(workers=args.workers, env=env, log_path=log) as server:
            report = asyncio.run(_measure(args, cluster, server.base_url))
    _print(report, args)
    document = {"settings": {**vars(args), "date": run_stamp(run_dir)}, **asdict(report)}
    (run_dir / "results.json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
