from __future__ import annotations

from fastapi import APIRouter, Request

from videolikes.repository import get_or_create_user
from videolikes.responses import JSONBytes
from videolikes.routes import error_responses
from videolikes.schemas import MeOut, dump
from videolikes.state import app_state

router = APIRouter(prefix="/api/me", tags=["me"])


@router.get(
    "",
    response_model=MeOut,
    summary="This client's anonymous user, created on first call",
    responses=error_responses(429, 503),
)
async def get_me(request: Request) -> JSONBytes:
    state = app_state(request)
    async with state.database.unit_of_work() as conn:
        user = await get_or_create_user(conn, ip_hash=state.identity.ip_hash(request.scope))
    return JSONBytes(dump({"id": str(user.id), "username": user.username}))
