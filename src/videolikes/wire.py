"""The wire format: response shapes (documented in OpenAPI) and their fast serialisers.

Handlers return pre-serialised bytes instead of letting FastAPI validate every response, so
the models here exist for the OpenAPI document and for input validation; the serialisers below
are the single source of the bytes clients receive.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

VIDEO_ID_PATTERN = r"^[A-Za-z0-9_-]{1,50}$"
INVALID_VIDEO_ID = "Invalid video id: use 1-50 characters of A-Z, a-z, 0-9, _ and -"
# PostgreSQL text cannot hold NUL, so no stored value has one; refused before any query.
TEXT_WITHOUT_NUL = r"^[^\x00]*$"


VIDEO_EXAMPLE: dict[str, Any] = {
    "id": "EFTA01683563",
    "title": "Sunrise over the harbour",
    "filename": "EFTA01683563.mp4",
    "length": 184,
    "hasThumbnail": True,
    "views": 1520,
    "likes": 42,
    "is_shorts": False,
    "playlist": "harbour",
}


class VideoOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": VIDEO_EXAMPLE})

    id: str
    title: str | None
    filename: str
    length: int
    hasThumbnail: bool
    views: int
    likes: int
    is_shorts: bool
    playlist: str | None


class UserLikeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"userLike": True}})

    userLike: bool | None = Field(description="true when this client likes the video, else null")


class UserLikesOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"userLikes": {"EFTA01683563": True}}})

    userLikes: dict[str, bool | None] = Field(
        description="Each requested id: true when this client likes the video, else null"
    )


class MeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"id": "6f1c2b9e-2f7a-4d4e-9d0b-6d1f9e8a7c21", "username": "@user-k3x9qa"}
        }
    )

    id: str
    username: str


class HealthOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"status": "ok", "timestamp": "2026-11-27T12:00:00Z"}}
    )

    status: str
    timestamp: str


class ReplicaOut(BaseModel):
    state: Literal["unknown", "usable", "lagging", "down", "promoted"]
    lag: float | None = Field(description="Seconds behind the primary; null when unknown")


_REPLICAS_DESCRIPTION = "With DATABASE_REPLICA_URLS: each replica as last seen (never a URL)"


class ReadyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"status": "ready"}})

    status: str
    replicas: dict[str, ReplicaOut] | None = Field(default=None, description=_REPLICAS_DESCRIPTION)


class NotReadyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "error": "Not ready: database",
                "status": "unavailable",
                "down": {"database": "timeout"},
            }
        }
    )

    error: str
    status: str
    down: dict[str, str] = Field(description="Each dependency that is down: timeout or error type")
    replicas: dict[str, ReplicaOut] | None = Field(default=None, description=_REPLICAS_DESCRIPTION)


class ErrorOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"error": "Video not found"}})

    error: str


def video_to_wire(row: Any, *, dislikes: bool = False) -> dict[str, Any]:
    """The original's video object; with `dislikes`, its dislike counter too."""
    body = {
        "id": row.id,
        "title": row.title,
        "filename": row.filename,
        "length": row.length,
        "hasThumbnail": bool(row.has_thumbnail),
        "views": row.views,
        "likes": row.likes,
        "is_shorts": bool(row.is_shorts),
        "playlist": row.playlist,
    }
    if dislikes:
        body["dislikes"] = row.dislikes
    return body


def dump(value: Any) -> bytes:
    return orjson.dumps(value)


USER_LIKE_TRUE = dump({"userLike": True})
USER_LIKE_NULL = dump({"userLike": None})


USER_LIKE_FALSE = dump({"userLike": False})


def user_like_body(rating: bool | None) -> bytes:
    """`{"userLike": ...}`: true liked, false disliked (only with dislikes on), null neither."""
    if rating is None:
        return USER_LIKE_NULL
    return USER_LIKE_TRUE if rating else USER_LIKE_FALSE


def user_likes_body(statuses: dict[str, bool | None]) -> bytes:
    return dump({"userLikes": statuses})


def error_body(message: str) -> bytes:
    return dump({"error": message})
