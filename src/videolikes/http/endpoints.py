"""Thin HTTP handlers, one module per resource."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from videolikes.errors import BadRequest
from videolikes.wire import INVALID_VIDEO_ID, ErrorOut

_ERRORS = {
    400: ("Malformed input", INVALID_VIDEO_ID),
    403: ("reCAPTCHA token missing or rejected", "reCAPTCHA verification failed"),
    404: ("Unknown video", "Video not found"),
    429: ("Too many requests", "Too many requests"),
    500: ("Unexpected failure, or reCAPTCHA unreachable", "reCAPTCHA verification error"),
    503: ("Database unavailable", "Service unavailable"),
}


def error_responses(*statuses: int, bad_request: str | None = None) -> dict[int | str, Any]:
    """How the given error statuses are documented; `bad_request` is this endpoint's 400."""
    responses: dict[int | str, Any] = {}
    for status in statuses:
        description, message = _ERRORS[status]
        if status == 400 and bad_request is not None:
            message = bad_request
        responses[status] = {
            "model": ErrorOut,
            "description": description,
            "content": {"application/json": {"example": {"error": message}}},
        }
    return responses


def bounded_header(request: Request, name: str, max_length: int) -> str | None:
    """A header read by an endpoint itself, refused as FastAPI refuses a declared one."""
    value = request.headers.get(name)
    if value is not None and len(value) > max_length:
        raise BadRequest(f"Invalid {name}: String should have at most {max_length} characters")
    return value
