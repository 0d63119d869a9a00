"""The OpenAPI document: every operation, parameter and response carries an example."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import make_settings

from videolikes.app import create_app

DOCUMENT = create_app(make_settings("sqlite+aiosqlite://")).openapi()
WITH_DISLIKES = create_app(make_settings("sqlite+aiosqlite://", dislikes_enabled=True)).openapi()
OPERATIONS = [
    pytest.param(operation, id=f"{method.upper()} {path}{suffix}")
    for document, suffix in ((DOCUMENT, ""), (WITH_DISLIKES, " with dislikes"))
    for path, operations in document["paths"].items()
    for method, operation in operations.items()
    if document is DOCUMENT or "dislike" in path
]


def _has_example(media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = media.get("schema", {})
    if "$ref" in schema:
        schema = WITH_DISLIKES["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return "example" in schema or "examples" in schema


def test_every_endpoint_is_documented() -> None:
    assert set(DOCUMENT["paths"]) == {
        "/api/videos",
        "/api/videos/{videoId}",
        "/api/videos/{videoId}/like",
        "/api/videos/{videoId}/comments",
        "/api/comments/{commentId}/like",
        "/api/me",
        "/api/me/likes",
        "/health",
        "/ready",
        "/metrics",
    }
    assert set(DOCUMENT["paths"]["/api/videos/{videoId}/like"]) == {"get", "post", "put", "delete"}
    assert set(DOCUMENT["paths"]["/api/videos/{videoId}/comments"]) == {"get", "post"}
    assert set(DOCUMENT["paths"]["/api/comments/{commentId}/like"]) == {"post", "put", "delete"}


def test_comment_operations_document_the_originals_answers() -> None:
    comments = DOCUMENT["paths"]["/api/videos/{videoId}/comments"]
    posted = comments["post"]["responses"]
    assert set(posted) >= {"201", "400", "403", "404", "413", "429"}
    assert posted["201"]["content"]["application/json"]["example"]["replies"] == []
    assert comments["post"]["requestBody"]["content"]["application/json"]["schema"]
    like = DOCUMENT["paths"]["/api/comments/{commentId}/like"]["post"]["responses"]
    assert like["404"]["content"]["application/json"]["example"] == {"error": "Comment not found"}


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_parameter_has_an_example(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        assert parameter["schema"].get("examples"), parameter["name"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_response_body_has_an_example(operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        for media in response.get("content", {}).values():
            assert _has_example(media), status


@pytest.mark.parametrize("operation", OPERATIONS)
def test_invalid_input_is_documented_as_400_not_422(operation: dict[str, Any]) -> None:
    assert "422" not in operation["responses"]
    if operation.get("parameters"):
        assert operation["responses"]["400"]["content"]["application/json"]["example"]["error"]


def test_examples_keep_their_nulls() -> None:
    delete = DOCUMENT["paths"]["/api/videos/{videoId}/like"]["delete"]
    assert delete["responses"]["200"]["content"]["application/json"]["example"] == {
        "userLike": None
    }
    batch = DOCUMENT["paths"]["/api/me/likes"]["get"]["responses"]["200"]["content"]
    assert None in batch["application/json"]["examples"]["with ids"]["value"]["userLikes"].values()


def test_error_examples_are_the_real_messages() -> None:
    responses = DOCUMENT["paths"]["/api/videos/{videoId}/like"]["put"]["responses"]
    for status, message in [
        ("403", "reCAPTCHA verification failed"),
        ("404", "Video not found"),
        ("503", "Service unavailable"),
    ]:
        example = responses[status]["content"]["application/json"]["example"]
        assert example == {"error": message}


def test_without_dislikes_the_document_says_nothing_of_them() -> None:
    assert "dislike" not in json.dumps(DOCUMENT).lower()


def test_with_dislikes_the_document_shows_their_endpoints_and_counters() -> None:
    paths = WITH_DISLIKES["paths"]
    assert set(paths) - set(DOCUMENT["paths"]) == {
        "/api/videos/{videoId}/dislike",
        "/api/comments/{commentId}/dislike",
    }
    for path in ("/api/videos/{videoId}/dislike", "/api/comments/{commentId}/dislike"):
        assert set(paths[path]) == {"post", "put", "delete"}
        post = paths[path]["post"]["responses"]["200"]["content"]["application/json"]
        assert post["example"] == {"userLike": False}
    schemas = WITH_DISLIKES["components"]["schemas"]
    for name in ("VideoOut", "CommentOut", "ReplyOut"):
        assert "dislikes" in schemas[name]["required"]
        assert schemas[name]["example"]["dislikes"] == 0
    assert "false" in schemas["UserLikeOut"]["properties"]["userLike"]["description"]
    # The generator hands its document out again: asking twice gives the same document.
    again = create_app(make_settings("sqlite+aiosqlite://", dislikes_enabled=True))
    assert again.openapi() == again.openapi() == WITH_DISLIKES
