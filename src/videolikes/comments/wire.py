"""Comments as the original service sends them, and the models that document them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from videolikes.comments.service import MAX_CONTENT_LENGTH, CommentPage, CommentView

_USER_EXAMPLE = {"id": "6f1c2b9e-4a3d-4e5f-8a7b-1c2d3e4f5a6b", "username": "@user-k3x9qa"}
REPLY_EXAMPLE: dict[str, Any] = {
    "id": "0b6f3c1e-9d2a-4c8b-a7e5-3f1d2c4b5a69",
    "content": "Agreed, the last minute is the best part.",
    "createdAt": "2026-11-27T14:02:09.551Z",
    "user": {"id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "username": "@user-p0q1rs"},
    "likes": 0,
    "userLike": None,
}
COMMENT_EXAMPLE: dict[str, Any] = {
    "id": "3e0c7d52-8b1a-4f6e-9c3d-2a1b0c9d8e7f",
    "content": "What a harbour view!",
    "createdAt": "2026-11-27T13:47:41.123Z",
    "user": _USER_EXAMPLE,
    "likes": 2,
    "userLike": True,
    "replies": [REPLY_EXAMPLE],
}
NEW_COMMENT_EXAMPLE: dict[str, Any] = {
    **COMMENT_EXAMPLE,
    "likes": 0,
    "userLike": None,
    "replies": [],
}


class CommentUserOut(BaseModel):
    id: uuid.UUID
    username: str


class ReplyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": REPLY_EXAMPLE})

    id: uuid.UUID
    content: str
    createdAt: str = Field(description="ISO-8601 UTC with milliseconds and Z")
    user: CommentUserOut
    likes: int
    userLike: bool | None = Field(description="true when this client likes it, else null")


class CommentOut(ReplyOut):
    model_config = ConfigDict(json_schema_extra={"example": COMMENT_EXAMPLE})

    replies: list[ReplyOut] = Field(description="Every reply, oldest first")


class CommentsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"comments": [COMMENT_EXAMPLE], "totalCount": 2}}
    )

    comments: list[CommentOut]
    totalCount: int = Field(
        description="The top-level comments listed plus every reply of the video"
    )


class CommentIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"content": "Agreed!", "parentId": "3e0c7d52-8b1a-4f6e-9c3d-2a1b0c9d8e7f"}
        }
    )

    content: str = Field(description=f"Trimmed; 1-{MAX_CONTENT_LENGTH} characters after trimming")
    parentId: uuid.UUID | None = Field(
        default=None, description="To reply: the id of a top-level comment of the same video"
    )


class CommentLikeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"userLike": True}})

    userLike: bool | None


def timestamp(moment: datetime) -> str:
    """`2026-11-27T13:47:41.123Z`: the stored time is UTC without a zone."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def comment_to_wire(view: CommentView, *, dislikes: bool = False) -> dict[str, Any]:
    """The original's comment; with `dislikes`, its dislike count after its likes."""
    row = view.row
    body: dict[str, Any] = {
        "id": str(row.id),
        "content": row.content,
        "createdAt": timestamp(row.created_at),
        "user": {"id": str(row.user_id), "username": row.username},
        "likes": view.likes,
    }
    if dislikes:
        body["dislikes"] = view.dislikes
    body["userLike"] = view.user_like
    if view.replies is not None:
        body["replies"] = [comment_to_wire(reply, dislikes=dislikes) for reply in view.replies]
    return body


def page_to_wire(page: CommentPage, *, dislikes: bool = False) -> dict[str, Any]:
    return {
        "comments": [comment_to_wire(view, dislikes=dislikes) for view in page.comments],
        "totalCount": page.total_count,
    }
