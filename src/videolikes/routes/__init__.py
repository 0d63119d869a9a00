"""Thin HTTP handlers, one module per resource."""

from __future__ import annotations

from typing import Any

from videolikes.schemas import ErrorOut


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Malformed input",
        403: "reCAPTCHA token missing or rejected",
        404: "Unknown video",
        429: "Too many requests",
        500: "Unexpected failure, or reCAPTCHA unreachable",
        503: "Database unavailable",
    }
    return {status: {"model": ErrorOut, "description": descriptions[status]} for status in statuses}
