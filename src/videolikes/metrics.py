"""Prometheus metrics, and GET /metrics's exposition of them.

Metrics are process-wide by nature, so they live at module level like every prometheus-client
metric. With several worker processes (`serve --workers N`) each process writes its samples to
files under PROMETHEUS_MULTIPROC_DIR and a scrape, answered by any one worker, adds them up;
`videolikes serve` creates and removes that directory itself.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, QueuePool

from videolikes.captcha import CaptchaOutcome, RecaptchaVerifier
from videolikes.errors import CaptchaRejected, CaptchaTokenMissing, CaptchaUnavailable

if TYPE_CHECKING:
    from videolikes.likes.changes import LikeChange

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "videolikes_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
REQUEST_DURATION = Histogram(
    "videolikes_http_request_duration_seconds",
    "Time from receiving a request to sending its last byte, by method, route and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LIKE_OPERATIONS = Counter(
    "videolikes_like_operations_total",
    "Like writes on existing videos, by what they did: like, dislike, unlike or no-op.",
    ["kind"],
)
LIKE_BATCH_SIZE = Histogram(
    "videolikes_like_batch_size",
    "Requests served together on PostgreSQL, by kind: status reads per statement (status) and "
    "like writes per write statement (write).",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
RECAPTCHA_OUTCOMES = Counter(
    "videolikes_recaptcha_outcomes_total",
    "reCAPTCHA checks by outcome: passed, skipped (no secret), missing, rejected, error.",
    ["outcome"],
)
RATE_LIMITED = Counter(
    "videolikes_rate_limited_total",
    "Requests refused with 429 by a rate limit, by limit (general or writes).",
    ["limit"],
)
LEGACY_MOVES = Counter(
    "videolikes_legacy_identities_moved_total",
    "Users of the original service moved to videolikes' own client hash on their first write.",
)
DB_POOL_IN_USE = Gauge(
    "videolikes_db_pool_connections_in_use",
    "Database connections checked out of the pool right now (all worker processes).",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "videolikes_db_pool_size",
    "Database connections the pools may open (all worker processes).",
    multiprocess_mode="livesum",
)
DB_READS = Counter(
    "videolikes_db_reads_total",
    "Reads that may lag, by the server that answered them: primary or replica-N (counted "
    "when replicas are configured; a status batch counts each request in it).",
    ["server"],
)
DB_REPLICA_LAG = Gauge(
    "videolikes_db_replica_lag_seconds",
    "How far each replica is behind the primary, as its monitor last saw it (NaN: unknown).",
    ["server"],
    multiprocess_mode="livemostrecent",
)
DB_REPLICA_STATE = Gauge(
    "videolikes_db_replica_state",
    "1 for each replica's state as its monitor last saw it (usable, lagging, down, "
    "promoted, unknown), 0 for the others.",
    ["server", "state"],
    multiprocess_mode="livemostrecent",
)
REPLICA_STATES = ("unknown", "usable", "lagging", "down", "promoted")

# Known label values start at zero, so dashboards and rate() see every series from the start.
for _kind in ("like", "unlike", "no-op"):
    LIKE_OPERATIONS.labels(_kind)
for _outcome in CaptchaOutcome:
    RECAPTCHA_OUTCOMES.labels(_outcome.value)
for _limit in ("general", "writes"):
    RATE_LIMITED.labels(_limit)

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# labels() takes a lock and builds a key on every call; the label sets are few, so keep them.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request; `route` must be a template, never a raw path."""
    key = (method, route, status)
    children = _request_children.get(key)
    if children is None:
        # A client may send any method token; only known ones become label values.
        label = method if method in _KNOWN_METHODS else "OTHER"
        labels = (label, route, str(status))
        children = (REQUESTS.labels(*labels), REQUEST_DURATION.labels(*labels))
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


_OPERATION_NAMES = {True: "like", False: "dislike", None: "unlike"}


def record_like_change(change: LikeChange) -> None:
    if not change.video_found:
        return
    if not change.changed:
        LIKE_OPERATIONS.labels("no-op").inc()
    else:
        LIKE_OPERATIONS.labels(_OPERATION_NAMES[change.rating]).inc()


def record_like_batch(kind: str, size: int) -> None:
    LIKE_BATCH_SIZE.labels(kind).observe(size)


def record_reads(server: str, count: int = 1) -> None:
    DB_READS.labels(server).inc(count)


def record_replica(server: str, state: str, lag: float | None) -> None:
    DB_REPLICA_LAG.labels(server).set(math.nan if lag is None else lag)
    for known in REPLICA_STATES:
        DB_REPLICA_STATE.labels(server, known).set(1 if known == state else 0)


def record_legacy_moves(count: int) -> None:
    if count:
        LEGACY_MOVES.inc(count)


class CountedRecaptchaVerifier(RecaptchaVerifier):
    """The verifier, counting every outcome, so no write route can forget to."""

    async def verify(self, token: str | None, *, action: str) -> CaptchaOutcome:
        try:
            outcome = await super().verify(token, action=action)
        except CaptchaTokenMissing:
            RECAPTCHA_OUTCOMES.labels(CaptchaOutcome.MISSING.value).inc()
            raise
        except CaptchaRejected:
            RECAPTCHA_OUTCOMES.labels(CaptchaOutcome.REJECTED.value).inc()
            raise
        except CaptchaUnavailable:
            RECAPTCHA_OUTCOMES.labels(CaptchaOutcome.ERROR.value).inc()
            raise
        RECAPTCHA_OUTCOMES.labels(outcome.value).inc()
        return outcome


def observe_pool(engine: AsyncEngine) -> None:
    """Track connections in use as they are checked out and in.

    Counting at checkout rather than reading the pool at scrape time is what makes the sum
    right with several workers: a scrape reaches one process, the files hold every process's.
    """
    pool = engine.sync_engine.pool
    DB_POOL_SIZE.inc(_capacity(pool))
    event.listen(pool, "checkout", _checked_out)
    event.listen(pool, "checkin", _checked_in)


def forget_pool(engine: AsyncEngine) -> None:
    """Before disposing the engine; its listeners go with it (dispose() carries them over)."""
    DB_POOL_SIZE.dec(_capacity(engine.sync_engine.pool))


def _capacity(pool: Pool) -> int:
    # The engines allow no overflow, so the pool's size is all it will ever open.
    return pool.size() if isinstance(pool, QueuePool) else 1


def _checked_out(*_: Any) -> None:
    DB_POOL_IN_USE.inc()


def _checked_in(*_: Any) -> None:
    DB_POOL_IN_USE.dec()


def exposition() -> bytes:
    directory = os.environ.get(MULTIPROCESS_DIR_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def release_process_metrics(pid: int | None = None) -> None:
    """Drop the live gauges of a process from the shared files: this one's on its way out, or
    those of a worker that died (from the supervisor), which livesum would count on otherwise."""
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]
