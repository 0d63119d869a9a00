from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from videolikes.http.responses import JSONBytes
from videolikes.wire import HealthOut, dump

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=HealthOut, summary="Liveness: the process answers")
async def health() -> JSONBytes:
    timestamp = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return JSONBytes(dump({"status": "ok", "timestamp": timestamp}))
