"""What the endpoints of every domain share: their documented errors, a bounded header and the
video id path parameter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from starlette.requests import Request

from videolikes.errors import BadRequest
from videolikes.wire import INVALID_VIDEO_ID, VIDEO_ID_PATTERN, ErrorOut

_ERRORS = {
    400: ("Malformed input", INVALID_VIDEO_ID),
    403: ("reCAPTCHA token missing (Invalid request) or rejected", "reCAPTCHA verification failed"),
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


VIDEO_ID_DESCRIPTION = "The video's id: 1-50 characters of A-Z, a-z, 0-9, _ and -"
VIDEO_ID_EXAMPLE = "EFTA01683563"

VideoId = Annotated[
    str,
    Path(
        alias="videoId",
        pattern=VIDEO_ID_PATTERN,
        description=VIDEO_ID_DESCRIPTION,
        examples=[VIDEO_ID_EXAMPLE],
    ),
]
