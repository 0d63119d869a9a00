"""The OpenAPI document, corrected where FastAPI's generator cannot say what the API does.

Invalid input is answered 400 `{"error": ...}` (app.py), never FastAPI's 422, so the 422
entries it adds to every operation are removed. Its encoder drops every None, also inside
examples, so the success examples that show a null are set here, after it ran. And a page
cursor is signed with this server's secret, so the examples of cursors (and of the Link
headers that carry them) are made here, with the secret, when the document is.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from videolikes.catalogue.repository import CatalogueKey, CatalogueQuery
from videolikes.comments.repository.reads import CommentKey
from videolikes.config import Settings
from videolikes.cursors import Cursors
from videolikes.likes.client_likes import LikedKey
from videolikes.wire import VIDEO_EXAMPLE

_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

_NULL_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("/api/videos/{videoId}/like", "delete"): {"example": {"userLike": None}},
    ("/api/me/likes", "get"): {
        "examples": {
            "with ids": {"value": {"userLikes": {"DEMO00000001": True, "NO_SUCH_VIDEO": None}}},
            "without ids": {"value": ["DEMO00000007", "DEMO00000001"]},
        }
    },
}


# Where the examples' pages end: after the example video, and after a like of 27 Nov 2026.
_LIKED_KEY = LikedKey("2026-11-27 12:00:00.000000", uuid.UUID(int=0x5EED))
_COMMENT_KEY = CommentKey(datetime(2026, 11, 27, 12, 0), uuid.UUID(int=0xC0FFEE))
_COMMENTS_PATH = "/api/videos/{videoId}/comments"


def serve_corrected_openapi(app: FastAPI, settings: Settings) -> None:
    generate = app.openapi
    cursors = Cursors(settings.ip_hash_secret.get_secret_value().encode())

    def openapi() -> dict[str, Any]:
        document = generate()
        _correct(document)
        _add_page_examples(document["paths"], cursors)
        if settings.dislikes_enabled:
            _document_dislikes(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _correct(document: dict[str, Any]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    for name in _VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            operation["responses"].pop("422", None)
            if (path, method) in _NULL_EXAMPLES:
                content = operation["responses"]["200"]["content"]["application/json"]
                content.update(_NULL_EXAMPLES[(path, method)])


def _add_page_examples(paths: dict[str, Any], cursors: Cursors) -> None:
    videos = paths["/api/videos"]["get"]
    # Swagger UI sends every parameter's example at once: the cursor is one for the sort and
    # filters the other examples name.
    filtered = CatalogueQuery(
        sort=_example(videos, "sort"),
        playlist=_example(videos, "playlist"),
        shorts=_example(videos, "shorts"),
    )
    _example_parameter(videos, "cursor", cursors.for_catalogue(filtered, _after_example(filtered)))
    every_video = CatalogueQuery()
    first_page = cursors.for_catalogue(every_video, _after_example(every_video))
    _example_link(videos, f"/api/videos?limit={_example(videos, 'limit')}&cursor={first_page}")

    mine = paths["/api/me/likes"]["get"]
    liked = cursors.for_liked(_LIKED_KEY)
    _example_parameter(mine, "cursor", liked)
    _example_link(mine, f"/api/me/likes?limit={_example(mine, 'limit')}&cursor={liked}")

    comments = paths[_COMMENTS_PATH]["get"]
    video_id = _example(comments, "videoId")
    after = cursors.for_comments(video_id, _COMMENT_KEY)
    _example_parameter(comments, "cursor", after)
    url = _COMMENTS_PATH.replace("{videoId}", video_id)
    _example_link(comments, f"{url}?limit={_example(comments, 'limit')}&cursor={after}")


def _after_example(query: CatalogueQuery) -> CatalogueKey:
    return CatalogueKey(VIDEO_EXAMPLE[query.sort], VIDEO_EXAMPLE["id"])


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in operation["parameters"] if p["name"] == name)


def _example(operation: dict[str, Any], name: str) -> Any:
    return _parameter(operation, name)["schema"]["examples"][0]


def _example_parameter(operation: dict[str, Any], name: str, value: str) -> None:
    _parameter(operation, name)["schema"]["examples"] = [value]


def _example_link(operation: dict[str, Any], url: str) -> None:
    headers = operation["responses"]["200"]["headers"]
    headers["Link"] = {**headers["Link"], "example": f'<{url}>; rel="next"'}


_RATING = "true when this client likes it, false when it dislikes it, else null"
_DISLIKES = {"type": "integer", "title": "Dislikes", "description": "How many dislike it"}
# The success examples of the dislike writes: what each answers from "neither".
_DISLIKE_EXAMPLES = {"post": {"userLike": False}, "put": {"userLike": False}}


def _document_dislikes(document: dict[str, Any]) -> None:
    """With DISLIKES_ENABLED: the `dislikes` counters and `userLike: false`.

    The models are the original's, which the document shows while dislikes are off; what
    dislikes add is written into their schemas here.
    """
    schemas = document["components"]["schemas"]
    for name in ("VideoOut", "ReplyOut", "CommentOut"):
        schema = schemas[name]
        schema["properties"]["dislikes"] = _DISLIKES
        # The generator keeps its document and hands the same one out again: this runs once
        # per call, and must leave it as one run does.
        if "dislikes" not in schema["required"]:
            schema["required"].append("dislikes")
        schema["example"] = {**schema["example"], "dislikes": 0}
    if "replies" in schemas["CommentOut"]["example"]:
        replies = schemas["CommentOut"]["example"]["replies"]
        schemas["CommentOut"]["example"]["replies"] = [{**r, "dislikes": 0} for r in replies]
    for name in ("UserLikeOut", "CommentLikeOut", "ReplyOut", "CommentOut"):
        schemas[name]["properties"]["userLike"]["description"] = _RATING
    schemas["UserLikesOut"]["properties"]["userLikes"]["description"] = (
        "Each requested id: " + _RATING
    )
    for path in ("/api/videos/{videoId}/dislike", "/api/comments/{commentId}/dislike"):
        for method, operation in document["paths"][path].items():
            content = operation["responses"]["200"]["content"]["application/json"]
            content["example"] = _DISLIKE_EXAMPLES.get(method, {"userLike": None})
