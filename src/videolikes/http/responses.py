"""Responses built from bytes the serialisers in schemas.py already made."""

from __future__ import annotations

from starlette.responses import Response

from videolikes.wire import error_body


class JSONBytes(Response):
    media_type = "application/json"


def error_response(status_code: int, message: str) -> JSONBytes:
    return JSONBytes(error_body(message), status_code=status_code)
