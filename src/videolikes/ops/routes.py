"""Readiness and metrics: for load balancers and Prometheus, outside /api."""

from __future__ import annotations

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from videolikes.http.responses import JSONBytes
from videolikes.metrics import exposition
from videolikes.state import app_state
from videolikes.wire import NotReadyOut, ReadyOut, dump

router = APIRouter(tags=["operations"])


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Readiness: the database (and Redis, when configured) answer; replicas' states",
    responses={503: {"model": NotReadyOut, "description": "A dependency is down"}},
)
async def ready(request: Request) -> JSONBytes:
    readiness = app_state(request).readiness
    problems = await readiness.problems()
    replicas = readiness.replicas()
    shown = {} if replicas is None else {"replicas": replicas}
    if not problems:
        return JSONBytes(dump({"status": "ready", **shown}))
    body = {
        "error": "Not ready: " + ", ".join(sorted(problems)),
        "status": "unavailable",
        "down": problems,
        **shown,
    }
    return JSONBytes(dump(body), status_code=503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST: {
                    "example": "# TYPE videolikes_like_operations_total counter\n"
                    'videolikes_like_operations_total{kind="like"} 42.0\n'
                }
            }
        }
    },
)
async def metrics() -> Response:
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
