"""Readiness, metrics and request logs, through the app in process."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from alembic import command
from asgi_lifespan import LifespanManager
from conftest import (
    REDIS_URL,
    RunningApp,
    execute,
    make_settings,
    require_redis,
    running_app,
    seed_demo,
    video_likes_missing,
)
from fake_recaptcha import FakeRecaptcha
from metric_samples import sample
from starlette.types import ASGIApp, Receive, Scope, Send

from videolikes.app import create_app
from videolikes.db.schema_version import SchemaVersion, alembic_config
from videolikes.db.units import Database
from videolikes.http.responses import JSONBytes

VIDEO = "DEMO00000001"
LIKE = f"/api/videos/{VIDEO}/like"
LIKE_ROUTE = "/api/videos/{videoId}/like"


@pytest.fixture
async def demo_url(database_url: str, database: Database) -> str:
    """A migrated database of each kind with the demo videos."""
    await seed_demo(database)
    return database_url


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Readiness


async def test_ready_is_200_when_the_database_answers(database_url: str) -> None:
    async with running_app(make_settings(database_url)) as api, api.client() as client:
        response = await client.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_ready_is_503_naming_the_database_when_it_is_down() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/none"
    async with running_app(make_settings(url)) as api, api.client() as client:
        response = await client.get("/ready")
        assert (await client.get("/health")).status_code == 200
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert set(body["down"]) == {"database"}
    assert body["error"] == "Not ready: database"


@pytest.mark.parametrize(
    ("revision", "problem"), [("0002_likes_by_user", "behind"), (None, "not migrated")]
)
async def test_ready_is_503_naming_the_schema_when_it_is_older_than_the_code(
    empty_postgres: str, revision: str | None, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    if revision is not None:
        await asyncio.to_thread(command.upgrade, alembic_config(empty_postgres), revision)
    async with running_app(make_settings(empty_postgres)) as api, api.client() as client:
        response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["down"] == {"schema": problem}
    assert "run videolikes db upgrade" in caplog.text


async def test_ready_serves_a_schema_newer_than_the_code(postgres_url: str) -> None:
    # A rollback of the code after a migration: migrations only add, so it still serves.
    async with running_app(make_settings(postgres_url)) as api, api.client() as client:
        database = api.app.state.services.database
        await execute(database, "UPDATE alembic_version SET version_num = '9999_from_later'")
        try:
            response = await client.get("/ready")
        finally:
            head = SchemaVersion().head
            await execute(database, "UPDATE alembic_version SET version_num = :head", head=head)
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_ready_gives_up_on_a_silent_database_within_its_timeout(silent_port: int) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{silent_port}/none"
    async with running_app(make_settings(url)) as api, api.client() as client:
        started = time.monotonic()
        response = await client.get("/ready")
        elapsed = time.monotonic() - started
    assert (response.status_code, response.json()["down"]) == (503, {"database": "timeout"})
    assert elapsed < 2.5


async def test_ready_checks_redis_when_configured(database_url: str) -> None:
    require_redis()
    settings = make_settings(database_url, redis_url=REDIS_URL)
    async with running_app(settings) as api, api.client() as client:
        response = await client.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


@pytest.mark.parametrize("redis_down", ["refused", "silent"])
async def test_ready_is_503_naming_redis_when_it_is_down(
    database_url: str, silent_port: int, redis_down: str
) -> None:
    port = silent_port if redis_down == "silent" else _closed_port()
    settings = make_settings(database_url, redis_url=f"redis://127.0.0.1:{port}/0")
    async with running_app(settings) as api, api.client() as client:
        started = time.monotonic()
        response = await client.get("/ready")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert set(response.json()["down"]) == {"redis"}
    assert elapsed < 2.5


# Metrics


async def test_metrics_count_requests_by_route_template_never_by_raw_path(
    demo_url: str,
) -> None:
    async with running_app(make_settings(demo_url)) as api, api.client() as client:
        before = (await client.get("/metrics")).text
        await client.get(LIKE)
        await client.get("/api/videos/DEMO00000002/like")
        await client.get("/api/videos/NO_SUCH_VIDEO/like")
        await client.get("/api/videos")
        await client.get("/api/videos?limit=2")
        # Letters only: a digit string could turn up inside a timestamp sample.
        await client.get("/no/such/path/raw-segment")
        response = await client.get("/metrics")
    after = response.text
    assert response.headers["content-type"].startswith("text/plain")

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    requests = "videolikes_http_requests_total"
    assert delta(requests, method="GET", route=LIKE_ROUTE, status="200") == 2
    assert delta(requests, method="GET", route=LIKE_ROUTE, status="404") == 1
    assert delta(requests, method="GET", route="unmatched", status="404") == 1
    # With and without a query string, though they take routes of their own.
    assert delta(requests, method="GET", route="/api/videos", status="200") == 2
    histogram = "videolikes_http_request_duration_seconds_count"
    assert delta(histogram, method="GET", route=LIKE_ROUTE, status="200") == 2
    for raw in ("DEMO00000002", "NO_SUCH_VIDEO", "raw-segment"):
        assert raw not in after


async def test_metrics_map_unknown_methods_to_other(database_url: str) -> None:
    async with running_app(make_settings(database_url)) as api, api.client() as client:
        before = (await client.get("/metrics")).text
        await client.request("BREW", "/health")
        after = (await client.get("/metrics")).text
    labels = {"method": "OTHER", "route": "/health", "status": "405"}
    name = "videolikes_http_requests_total"
    assert sample(after, name, **labels) - sample(before, name, **labels) == 1
    assert "BREW" not in after


async def test_metrics_count_like_operations_by_kind(demo_url: str) -> None:
    async with running_app(make_settings(demo_url)) as api, api.client() as client:
        before = (await client.get("/metrics")).text
        await client.post(LIKE)
        await client.post(LIKE)
        await client.post(LIKE)
        await client.post("/api/videos/NO_SUCH_VIDEO/like")
        after = (await client.get("/metrics")).text

    def delta(kind: str) -> float:
        name = "videolikes_like_operations_total"
        return sample(after, name, kind=kind) - sample(before, name, kind=kind)

    assert (delta("like"), delta("unlike"), delta("no-op")) == (2, 1, 0)


async def test_idempotent_writes_that_change_nothing_count_as_no_op(demo_url: str) -> None:
    async with running_app(make_settings(demo_url)) as api, api.client() as client:
        before = (await client.get("/metrics")).text
        for method in ("PUT", "PUT", "DELETE", "DELETE"):
            assert (await client.request(method, LIKE)).status_code == 200
        after = (await client.get("/metrics")).text

    def delta(kind: str) -> float:
        name = "videolikes_like_operations_total"
        return sample(after, name, kind=kind) - sample(before, name, kind=kind)

    assert (delta("like"), delta("unlike"), delta("no-op")) == (1, 1, 2)


async def test_metrics_count_recaptcha_outcomes(
    demo_url: str, fake_recaptcha: FakeRecaptcha
) -> None:
    settings = make_settings(
        demo_url, recaptcha_secret_key="metrics-secret", recaptcha_verify_url=fake_recaptcha.url
    )
    async with running_app(settings) as api, api.client() as client:
        before = (await client.get("/metrics")).text
        await client.post(LIKE, headers={"X-Recaptcha-Token": "good"})
        await client.post(LIKE)
        fake_recaptcha.answer(score=0.1)
        await client.post(LIKE, headers={"X-Recaptcha-Token": "bot"})
        fake_recaptcha.status = 502
        await client.post(LIKE, headers={"X-Recaptcha-Token": "good"})
        after = (await client.get("/metrics")).text
    async with running_app(make_settings(demo_url)) as api, api.client() as client:
        await client.post(LIKE)
        skipped_after = (await client.get("/metrics")).text

    def delta(outcome: str, text: str = after) -> float:
        name = "videolikes_recaptcha_outcomes_total"
        return sample(text, name, outcome=outcome) - sample(before, name, outcome=outcome)

    assert [delta(o) for o in ("passed", "missing", "rejected", "error")] == [1, 1, 1, 1]
    assert delta("skipped", skipped_after) == 1


async def test_metrics_show_pool_connections_in_use(database_url: str) -> None:
    async with running_app(make_settings(database_url)) as api, api.client() as client:
        idle = (await client.get("/metrics")).text
        engine = api.app.state.services.database.engine
        async with engine.connect():
            busy = (await client.get("/metrics")).text
        again = (await client.get("/metrics")).text
    in_use = "videolikes_db_pool_connections_in_use"
    assert sample(busy, in_use) == sample(idle, in_use) + 1
    assert sample(again, in_use) == sample(idle, in_use)
    assert sample(idle, "videolikes_db_pool_size") >= 1


async def test_metrics_expose_rate_limit_rejections_per_limit(database_url: str) -> None:
    async with running_app(make_settings(database_url)) as api, api.client() as client:
        text = (await client.get("/metrics")).text
    for limit in ("general", "writes"):
        assert f'videolikes_rate_limited_total{{limit="{limit}"}}' in text


# Request logs


def _json_lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


async def test_each_request_logs_one_json_line_with_route_status_duration_and_id(
    demo_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(demo_url, log_format="json")
    async with running_app(settings) as api, api.client() as client:
        capsys.readouterr()
        response = await client.get(LIKE)
    access = [e for e in _json_lines(capsys.readouterr().err) if e["logger"] == "videolikes.access"]
    assert len(access) == 1
    entry = access[0]
    request_id = response.headers["x-request-id"]
    assert len(request_id) == 32
    assert {k: entry[k] for k in ("level", "method", "route", "status", "request_id")} == {
        "level": "info",
        "method": "GET",
        "route": LIKE_ROUTE,
        "status": 200,
        "request_id": request_id,
    }
    assert isinstance(entry["duration_ms"], float)
    assert entry["duration_ms"] >= 0


async def test_text_log_line_names_request_id_method_route_and_status(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(database_url, log_format="text")
    async with running_app(settings) as api, api.client() as client:
        capsys.readouterr()
        await client.get("/api/videos/NO_SUCH_VIDEO/like", headers={"X-Request-ID": "abc-1"})
    lines = [line for line in capsys.readouterr().err.splitlines() if "videolikes.access" in line]
    assert len(lines) == 1
    assert f"[abc-1] GET {LIKE_ROUTE} 404 " in lines[0]


async def test_a_well_formed_request_id_is_kept_and_echoed(database_url: str) -> None:
    async with running_app(make_settings(database_url)) as api, api.client() as client:
        for good in ("3f2a9c1e-7d4b-4f7e-9a51-0c2d3e4f5a6b", "Req_42", "a" * 128):
            response = await client.get("/health", headers={"X-Request-ID": good})
            assert response.headers["x-request-id"] == good


async def test_a_malformed_request_id_is_replaced_by_a_generated_one(database_url: str) -> None:
    async with running_app(make_settings(database_url)) as api, api.client() as client:
        for bad in ("203.0.113.9", "2001:db8::1", "two words", "a" * 129, "x\x7fy"):
            response = await client.get("/health", headers={"X-Request-ID": bad})
            echoed = response.headers["x-request-id"]
            assert echoed != bad
            assert len(echoed) == 32
            assert all(c in "0123456789abcdef" for c in echoed)


async def test_every_log_line_of_a_request_carries_its_id(
    demo_url: str, fake_recaptcha: FakeRecaptcha, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        demo_url,
        log_format="json",
        recaptcha_secret_key="log-secret",
        recaptcha_verify_url=fake_recaptcha.url,
    )
    fake_recaptcha.answer(score=0.1)
    async with running_app(settings) as api, api.client() as client:
        capsys.readouterr()
        response = await client.post(
            LIKE, headers={"X-Recaptcha-Token": "bot-token", "X-Request-ID": "req-captcha"}
        )
    assert response.status_code == 403
    entries = [e for e in _json_lines(capsys.readouterr().err) if e["logger"] != "httpx"]
    assert {e["logger"] for e in entries} >= {"videolikes.captcha", "videolikes.access"}
    assert {e["request_id"] for e in entries} == {"req-captcha"}


async def test_an_unexpected_error_is_logged_and_answered_under_its_request_id(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(postgres_url, log_format="json")
    async with running_app(settings) as api, api.client() as client:
        database = api.app.state.services.database
        await seed_demo(database)
        async with video_likes_missing(postgres_url):
            capsys.readouterr()
            response = await client.get(LIKE, headers={"X-Request-ID": "req-boom"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-boom"
    entries = [e for e in _json_lines(capsys.readouterr().err) if e["logger"] != "httpx"]
    errors = [e for e in entries if e["level"] == "error"]
    assert len(errors) == 1
    assert "exception" in errors[0]
    access = [e for e in entries if e["logger"] == "videolikes.access"]
    assert [(e["status"], e["request_id"]) for e in access] == [(500, "req-boom")]
    assert {e["request_id"] for e in entries} == {"req-boom"}


def test_json_formatter_outside_a_request_uses_a_dash_for_the_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from videolikes.logs import configure_logging

    configure_logging("info", "json")
    logging.getLogger("videolikes.test").info("hello %s", "world")
    entry = _json_lines(capsys.readouterr().err)[-1]
    assert (entry["message"], entry["request_id"]) == ("hello world", "-")


class _RefuseFlagged:
    """Stands in for a rate limiter: answers 429 before routing when asked to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (b"x-refuse", b"1") in scope["headers"]:
            await JSONBytes(b'{"error":"Too many requests"}', status_code=429)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def test_an_answer_given_before_routing_is_counted_under_its_route(
    database_url: str,
) -> None:
    app = create_app(make_settings(database_url))
    app.add_middleware(_RefuseFlagged)
    async with LifespanManager(app):
        api = RunningApp(app, make_settings(database_url))
        async with api.client() as client:
            before = (await client.get("/metrics")).text
            refused = await client.post(LIKE, headers={"X-Refuse": "1"})
            after = (await client.get("/metrics")).text
    assert refused.status_code == 429
    assert refused.headers["x-request-id"]
    labels = {"method": "POST", "route": LIKE_ROUTE, "status": "429"}
    name = "videolikes_http_requests_total"
    assert sample(after, name, **labels) - sample(before, name, **labels) == 1


async def test_rate_limit_rejections_are_counted_per_limit_and_route(demo_url: str) -> None:
    settings = make_settings(demo_url, rate_limit_enabled=True, rate_limit_writes="1/minute")
    async with running_app(settings) as api, api.client("198.51.100.77") as client:
        before = (await client.get("/metrics")).text
        assert (await client.post(LIKE)).status_code == 200
        assert (await client.post(LIKE)).status_code == 429
        after = (await client.get("/metrics")).text

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("videolikes_rate_limited_total", limit="writes") == 1
    assert delta("videolikes_rate_limited_total", limit="general") == 0
    requests = "videolikes_http_requests_total"
    assert delta(requests, method="POST", route=LIKE_ROUTE, status="429") == 1


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("GET", "/docs", "/docs"),
        ("GET", "/openapi.json", "/openapi.json"),
        ("GET", "/static/app.js", "/static/{path}"),
        ("GET", "/static/no-such-file.js", "/static/{path}"),
        ("GET", "/", "/"),
        ("HEAD", "/health", "/health"),
        ("HEAD", "/", "/"),
        ("OPTIONS", LIKE, LIKE_ROUTE),
        ("OPTIONS", "/api/me", "/api/me"),
    ],
)
async def test_routes_outside_the_document_and_head_and_options_count_under_their_template(
    sqlite_url: str, method: str, path: str, route: str
) -> None:
    async with running_app(make_settings(sqlite_url)) as api, api.client() as client:
        before = (await client.get("/metrics")).text
        await client.request(method, path)
        after = (await client.get("/metrics")).text
    name = "videolikes_http_requests_total"
    counted = sum(
        sample(after, name, method=method, route=route, status=status)
        - sample(before, name, method=method, route=route, status=status)
        for status in ("200", "204", "404")
    )
    assert counted == 1
