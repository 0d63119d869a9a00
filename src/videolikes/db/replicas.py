"""Read replicas and what this process knows of each: its state, its lag, how far it replayed.

A monitor asks every replica, on a connection of its own, twice a second and within a
timeout, whether it is still a standby and how far it has replayed; and asks the primary how
far its WAL is flushed. A replica's lag is the time since it was last seen holding everything
the primary had flushed (so a replica the primary has nothing new for is not behind, however
long since its last transaction, and one whose replay is paused falls behind as soon as the
primary writes). When the primary cannot be asked, a replica's own view serves: nothing
received but not yet replayed, else the time since its last replayed transaction.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

import asyncpg

from videolikes.db.units import Database
from videolikes.metrics import record_replica

_log = logging.getLogger(__name__)

POLL_INTERVAL = 0.5
# Each question to a server; one that does not answer in time counts as down.
PROBE_TIMEOUT = 1.0

# Positions are compared as numbers of bytes into the WAL.
_PRIMARY_QUERY = "SELECT (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint"
_REPLICA_QUERY = """
SELECT pg_is_in_recovery() AS standby,
       (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint AS replayed,
       (pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::bigint AS received,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS since_replay
"""


class ReplicaState(StrEnum):
    UNKNOWN = "unknown"
    USABLE = "usable"
    LAGGING = "lagging"
    DOWN = "down"
    PROMOTED = "promoted"


@dataclass
class Replica:
    """One replica server (or libpq list of them) and the monitor's last view of it."""

    name: str
    database: Database
    state: ReplicaState = ReplicaState.UNKNOWN
    lag: float | None = None
    # How far it had replayed when last asked; it only grows, so this is on the safe side.
    replayed: int = 0
    caught_up_at: float | None = None
    probe: asyncpg.Connection | None = field(default=None, repr=False)

    @property
    def usable(self) -> bool:
        return self.state is ReplicaState.USABLE

    def lost(self, reason: str) -> None:
        """A read found it failing: skip it until the monitor sees it answer again."""
        self._become(ReplicaState.DOWN, None, reason)

    def _become(self, state: ReplicaState, lag: float | None, reason: str = "") -> None:
        if state is not self.state:
            if state is ReplicaState.USABLE:
                _log.warning("replica %s is usable", self.name)
            elif self.state in (ReplicaState.USABLE, ReplicaState.UNKNOWN):
                _log.warning(
                    "replica %s is %s%s: its reads go elsewhere",
                    self.name,
                    state.value,
                    f" ({reason})" if reason else "",
                )
        self.state, self.lag = state, lag
        record_replica(self.name, state.value, lag)


class ReplicaMonitor:
    def __init__(self, primary: Database, replicas: list[Replica], *, max_lag: float) -> None:
        self._primary = primary
        self._replicas = replicas
        self._max_lag = max_lag
        self._primary_probe: asyncpg.Connection | None = None
        # (when, flushed position) of the primary, back far enough to measure max_lag.
        self._flushed: deque[tuple[float, int]] = deque(
            maxlen=math.ceil(max_lag / POLL_INTERVAL) + 2
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Poll once, so reads start knowing their replicas, then keep polling."""
        await self.poll()
        self._task = asyncio.create_task(self._run(), name="replica monitor")

    async def poll(self) -> None:
        primary = await self._primary_position()
        await asyncio.gather(*(self._poll(replica, primary) for replica in self._replicas))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for replica in self._replicas:
            _drop(replica.probe)
            replica.probe = None
        _drop(self._primary_probe)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                await self.poll()
            except Exception:
                _log.exception("replica monitor failed; polling again")

    async def _primary_position(self) -> int | None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                if self._primary_probe is None:
                    self._primary_probe = await self._primary.open_probe_connection()
                position = await self._primary_probe.fetchval(_PRIMARY_QUERY)
        except Exception:
            # Not a primary now (a standby after a failover), or gone: the replicas' own
            # views serve until it answers again.
            _drop(self._primary_probe)
            self._primary_probe = None
            return None
        self._flushed.append((time.monotonic(), int(position)))
        return int(position)

    async def _poll(self, replica: Replica, primary: int | None) -> None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                if replica.probe is None:
                    replica.probe = await replica.database.open_probe_connection()
                row = await replica.probe.fetchrow(_REPLICA_QUERY)
        except Exception as exc:
            _drop(replica.probe)
            replica.probe = None
            replica._become(ReplicaState.DOWN, None, type(exc).__name__)
            return
        if not row["standby"]:
            replica._become(ReplicaState.PROMOTED, None)
            return
        replica.replayed = max(replica.replayed, int(row["replayed"] or 0))
        lag = self._lag(replica, primary, row)
        state = ReplicaState.USABLE if lag <= self._max_lag else ReplicaState.LAGGING
        replica._become(state, lag)

    def _lag(self, replica: Replica, primary: int | None, row: asyncpg.Record) -> float:
        now = time.monotonic()
        if primary is None:
            if row["received"] == row["replayed"]:
                return 0.0
            since_replay: float | None = row["since_replay"]
            return math.inf if since_replay is None else max(0.0, since_replay)
        for sampled_at, flushed in reversed(self._flushed):
            if flushed <= replica.replayed:
                if replica.caught_up_at is None or sampled_at > replica.caught_up_at:
                    replica.caught_up_at = sampled_at
                break
        if replica.caught_up_at is None:
            return math.inf
        return now - replica.caught_up_at


def _drop(connection: asyncpg.Connection | None) -> None:
    if connection is not None:
        connection.terminate()
