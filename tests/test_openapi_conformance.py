"""Schemathesis against the live OpenAPI document of a real server on PostgreSQL.

Every operation gets generated requests, valid and invalid; each answer must be no 5xx and
must match what the document says: status, content type, headers and body schema. The run is
derandomized and bounded, so it is the same run every time.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from conftest import make_settings, opened_database
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from videolikes.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES_PER_RUN = 25

KNOWN_VIDEO = "DEMO00000001"


def _runs(path: str, operation: dict[str, Any]) -> list[tuple[GenerationMode, dict[str, Any]]]:
    """Generated requests, valid and (where there are parameters) invalid; then valid ones
    pinned to what random data almost never reaches: an existing video, and a cached copy."""
    parameters = {parameter["name"] for parameter in operation.get("parameters", [])}
    runs: list[tuple[GenerationMode, dict[str, Any]]] = [(GenerationMode.POSITIVE, {})]
    if parameters:
        runs.append((GenerationMode.NEGATIVE, {}))
    known = {"path_parameters": {"videoId": KNOWN_VIDEO}} if "videoId" in parameters else {}
    if known:
        runs.append((GenerationMode.POSITIVE, known))
    if "If-None-Match" in parameters:
        runs.append((GenerationMode.POSITIVE, {**known, "headers": {"If-None-Match": "*"}}))
    return runs


def _documented(*, dislikes: bool) -> dict[str, Any]:
    paths: dict[str, Any] = create_app(
        make_settings("sqlite+aiosqlite://", dislikes_enabled=dislikes)
    ).openapi()["paths"]
    return paths


# With dislikes on: the operations they add, and those whose answers they change.
_WITH_DISLIKES = {
    ("GET", "/api/videos"),
    ("GET", "/api/videos/{videoId}"),
    ("GET", "/api/videos/{videoId}/like"),
    ("GET", "/api/videos/{videoId}/comments"),
    ("POST", "/api/videos/{videoId}/comments"),
    ("GET", "/api/me/likes"),
}
# The operations as the app documents them, read without serving it.
OPERATIONS = [
    pytest.param(
        method.upper(),
        path,
        _runs(path, operation),
        dislikes,
        id=f"{method.upper()} {path}" + (" with dislikes" if dislikes else ""),
    )
    for dislikes in (False, True)
    for path, operations in _documented(dislikes=dislikes).items()
    for method, operation in operations.items()
    if not dislikes or "dislike" in path or (method.upper(), path) in _WITH_DISLIKES
]


@pytest.fixture
async def demo_postgres_url(postgres_url: str) -> str:
    async with opened_database(postgres_url, demo=True):
        return postgres_url


@pytest.fixture
def live_url(demo_postgres_url: str, dislikes: bool) -> Iterator[str]:
    """A real uvicorn server in a thread, on a free port, over the demo catalogue."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    app = create_app(make_settings(demo_postgres_url, dislikes_enabled=dislikes))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        listener.close()


@pytest.mark.parametrize(("method", "path", "runs", "dislikes"), OPERATIONS)
def test_every_answer_matches_the_live_openapi_document(
    live_url: str,
    method: str,
    path: str,
    runs: list[tuple[GenerationMode, dict[str, Any]]],
    dislikes: bool,
) -> None:
    operation = schemathesis.openapi.from_url(f"{live_url}/openapi.json")[path][method]
    for mode, pinned in runs:

        @given(case=operation.as_strategy(mode, **pinned))
        @settings(
            max_examples=EXAMPLES_PER_RUN,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        def answer_conforms(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(checks=CHECKS)

        answer_conforms()
