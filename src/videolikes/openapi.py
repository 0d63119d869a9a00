"""The OpenAPI document, corrected where FastAPI's generator cannot say what the API does.

Invalid input is answered 400 `{"error": ...}` (app.py), never FastAPI's 422, so the 422
entries it adds to every operation are removed. And its encoder drops every None, also inside
examples, so the success examples that show a null are set here, after it ran.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

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


def serve_corrected_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        _correct(document)
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
