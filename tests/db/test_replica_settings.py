"""DATABASE_REPLICA_URLS and its companions, as operators write them."""

from __future__ import annotations

import pytest
from commands import videolikes
from pydantic import ValidationError

from videolikes.config import Settings, effective_configuration, settings_problems
from videolikes.db.replicas import ReplicaState
from videolikes.metrics import REPLICA_STATES

PRIMARY = "postgresql://app@127.0.0.1:5432/likes"
PASSWORD = "Rep-pa55-2718"


def _problems(**values: object) -> list[str]:
    with pytest.raises(ValidationError) as raised:
        Settings(**values)  # type: ignore[arg-type]
    return settings_problems(raised.value)


def test_replica_urls_are_separated_by_whitespace_and_may_each_list_servers() -> None:
    settings = Settings(
        database_url=PRIMARY,
        database_replica_urls=(
            f"postgresql://app:{PASSWORD}@r1:5432,r2:5433/likes?target_session_attrs=prefer-standby"
            "\n  postgres://app@r3/likes"
        ),
    )
    first, second = settings.database_replica_urls
    assert first.startswith("postgresql+asyncpg://")
    assert "host=r1:5432" in first
    assert "host=r2:5433" in first
    assert second == "postgresql+asyncpg://app@r3/likes"
    shown = dict(effective_configuration(settings))["DATABASE_REPLICA_URLS"]
    assert PASSWORD not in shown
    assert shown.count("postgresql+asyncpg://") == 2


def test_no_replica_by_default() -> None:
    settings = Settings(database_url=PRIMARY)
    assert settings.database_replica_urls == []
    assert dict(effective_configuration(settings))["DATABASE_REPLICA_URLS"] == "(none)"


def test_sqlite_refuses_replicas() -> None:
    assert _problems(database_replica_urls=PRIMARY) == [
        "settings: DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL (SQLite has no replicas)"
    ]


def test_a_replica_url_that_is_not_one_is_named_by_its_place_without_its_password() -> None:
    problems = _problems(
        database_url=PRIMARY,
        database_replica_urls=f"{PRIMARY} sqlite:///x.db app:{PASSWORD}@nowhere",
    )
    assert problems == ["DATABASE_REPLICA_URLS: entry 2 is not a PostgreSQL URL"]
    problems = _problems(database_url=PRIMARY, database_replica_urls=f"app:{PASSWORD}@nowhere")
    assert problems[0].startswith("DATABASE_REPLICA_URLS: entry 1: expected a database URL")
    assert PASSWORD not in problems[0]


def test_replicas_on_several_workers_need_redis() -> None:
    problems = _problems(database_url=PRIMARY, database_replica_urls=PRIMARY, workers=2)
    assert "needs REDIS_URL" in problems[0]
    Settings(
        database_url=PRIMARY,
        database_replica_urls=PRIMARY,
        workers=2,
        redis_url="redis://127.0.0.1:6379/0",
    )


async def test_serve_with_replicas_on_two_workers_without_redis_refuses_to_start() -> None:
    ran = await videolikes(
        "serve", "--workers", "2", database_url=PRIMARY, database_replica_urls=PRIMARY
    )
    assert ran.code == 2
    assert ran.err.startswith("invalid setting DATABASE_REPLICA_URLS with more than one worker")


def test_the_metrics_know_every_replica_state() -> None:
    assert tuple(state.value for state in ReplicaState) == REPLICA_STATES
