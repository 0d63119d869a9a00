"""Likes under load through a real server, and how many of those it acknowledged survive.

Clients PUT likes one after another, each like by a visitor of its own (named in
X-Forwarded-For, the server trusting 127.0.0.1 as its proxy), and every answer is recorded.
Afterwards a database's rows are compared with the answers: a 200 promised that the like was
committed, so every acknowledged like must be there, and each video's counter must equal
its rows. The tests and bench/failover.py both use this.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import httpx
from pg_cluster import PostgresCluster

from videolikes.identity import ClientIdentity

VIDEOS = [f"DEMO{n:08d}" for n in range(1, 37)]
STANDBY = "standby"
# The primary's settings: it acknowledges a commit once the standby has the commit's WAL
# (synchronous), or once it has it itself (asynchronous; PostgreSQL's default).
REPLICATION = {
    "synchronous": {"synchronous_commit": "on", "synchronous_standby_names": STANDBY},
    "asynchronous": {"synchronous_commit": "on"},
}
# The standby's: once promoted it has no standby of its own, and a primary that waits for a
# synchronous standby that is not there never acknowledges a write.
STANDBY_SETTINGS = {"synchronous_standby_names": ""}
# How long writes may take to answer 200 again after the promotion before giving up.
_RESUME_TIMEOUT = 30.0


def visitor_address(visitor: int) -> str:
    return f"10.{visitor >> 16 & 255}.{visitor >> 8 & 255}.{visitor & 255}"


@dataclass(frozen=True)
class Answer:
    visitor: int
    video: str
    sent: float
    finished: float
    # None: no HTTP answer (connection refused or reset, or the client's own timeout).
    status: int | None


@dataclass
class LikeLoad:
    """`clients` clients PUTting likes at `base_url` from entering the block until leaving it."""

    base_url: str
    clients: int
    timeout: float = 30.0
    answers: list[Answer] = field(default_factory=list)
    _visitors: int = 0
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _answered: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def __aenter__(self) -> LikeLoad:
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=self.clients),
        )
        self._tasks = [asyncio.create_task(self._client()) for _ in range(self.clients)]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stopping.set()
        await asyncio.gather(*self._tasks)
        await self._http.aclose()

    async def answered_200(self, *, since: float, within: float) -> None:
        """Return once a like sent at or after `since` answered 200."""
        async with asyncio.timeout(within):
            while not any(a.status == 200 and a.sent >= since for a in self.answers):
                await self._answered.wait()
                self._answered.clear()

    def acknowledged(self) -> list[Answer]:
        return [answer for answer in self.answers if answer.status == 200]

    async def _client(self) -> None:
        while not self._stopping.is_set():
            self._visitors += 1
            visitor = self._visitors
            video = VIDEOS[visitor % len(VIDEOS)]
            headers = {"X-Forwarded-For": visitor_address(visitor)}
            sent = time.monotonic()
            status: int | None = None
            try:
                answer = await self._http.put(f"/api/videos/{video}/like", headers=headers)
                status = answer.status_code
            except httpx.TransportError:
                pass
            self.answers.append(Answer(visitor, video, sent, time.monotonic(), status))
            self._answered.set()
            if status != 200:
                # No busy loop while the server cannot write.
                await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Survival:
    acknowledged: int
    # Acknowledged likes the database holds, and those it does not.
    present: int
    lost: int
    # Every like row, acknowledged or not (a write may commit and still miss its deadline).
    rows: int
    # Videos whose counter differs from their like rows.
    drift: int


async def survival(dsn: str, answers: list[Answer], *, ip_hash_secret: str) -> Survival:
    """What the database at `dsn` (an asyncpg DSN) holds of the acknowledged `answers`."""
    identity = ClientIdentity(secret=ip_hash_secret.encode())
    acknowledged = {
        (identity.ip_hash({"client": (visitor_address(a.visitor), 0)}), a.video)
        for a in answers
        if a.status == 200
    }
    connection = await asyncpg.connect(dsn, timeout=30)
    try:
        rows = await connection.fetch(
            """
            SELECT u.ip_hash, l.video_id FROM video_likes AS l JOIN users AS u ON u.id = l.user_id
            WHERE l.is_like
            """
        )
        drift = await connection.fetchval(
            """
            SELECT count(*) FROM videos AS v
            WHERE v.likes <> (SELECT count(*) FROM video_likes AS l
                              WHERE l.video_id = v.id AND l.is_like)
            """
        )
    finally:
        await connection.close()
    held = {(row["ip_hash"], row["video_id"]) for row in rows}
    present = len(acknowledged & held)
    return Survival(
        acknowledged=len(acknowledged),
        present=present,
        lost=len(acknowledged) - present,
        rows=len(held),
        drift=int(drift),
    )


@dataclass(frozen=True)
class Outage:
    """The writes from the primary's death until they serve again."""

    # From the promotion to the first 200 after it; None when none came.
    resumed_seconds: float | None
    # Answers that came after the death and before that first 200.
    statuses: Counter[int | None]
    slowest_seconds: float


def outage(answers: list[Answer], *, died: float, promoted: float) -> Outage:
    first_200 = min(
        (a.finished for a in answers if a.status == 200 and a.sent >= promoted), default=None
    )
    end = float("inf") if first_200 is None else first_200
    during = [a for a in answers if died <= a.finished < end]
    return Outage(
        resumed_seconds=None if first_200 is None else first_200 - promoted,
        statuses=Counter(a.status for a in during),
        slowest_seconds=max((a.finished - a.sent for a in during), default=0.0),
    )


async def until_streaming(primary: PostgresCluster, *, sync_state: str) -> None:
    """Wait until the standby streams from `primary` with `sync_state` ("sync" or "async");
    a standby just connected is "async" until it first confirms a flush."""
    connection = await asyncpg.connect(primary.url(scheme="postgresql"), timeout=30)
    try:
        async with asyncio.timeout(_RESUME_TIMEOUT):
            while True:
                streaming = await connection.fetchval(
                    "SELECT count(*) FROM pg_stat_replication"
                    " WHERE application_name = $1 AND state = 'streaming' AND sync_state = $2",
                    STANDBY,
                    sync_state,
                )
                if streaming:
                    return
                await asyncio.sleep(0.05)
    finally:
        await connection.close()


@dataclass(frozen=True)
class Failover:
    answers: list[Answer]
    # When the primary's kill was sent, the promotion asked for, and the promotion done.
    died: float
    promoting: float
    promoted: float

    def outage(self) -> Outage:
        return outage(self.answers, died=self.died, promoted=self.promoting)


async def fail_over_under_load(
    primary: PostgresCluster,
    standby: PostgresCluster,
    base_url: str,
    *,
    clients: int,
    before: float,
    lag: float,
    down: float,
    after: float,
) -> Failover:
    """Likes for `before` s; the primary's WAL sender frozen for `lag` s (the standby falls
    behind); the primary killed; `down` s later the standby promoted; likes go on until
    one answers 200, and `after` s more."""
    async with LikeLoad(base_url, clients) as load:
        await asyncio.sleep(before)
        if lag:
            primary.freeze(only="walsender")
            await asyncio.sleep(lag)
        died = time.monotonic()
        await asyncio.to_thread(primary.kill)
        await asyncio.sleep(down)
        promoting = time.monotonic()
        await asyncio.to_thread(standby.promote)
        promoted = time.monotonic()
        await load.answered_200(since=promoting, within=_RESUME_TIMEOUT)
        await asyncio.sleep(after)
    return Failover(load.answers, died, promoting, promoted)
