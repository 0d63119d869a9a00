"""What listing handlers share: ETags with If-None-Match, and the Link to the next page."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Header, Query
from starlette.requests import Request
from starlette.responses import Response

from videolikes.http.responses import JSONBytes

MAX_IF_NONE_MATCH_LENGTH = 4096
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=MAX_IF_NONE_MATCH_LENGTH,
        description="An ETag from an earlier answer; when it still matches the answer is 304",
        examples=['"5d41402abc4b2a76b9719d911017c592"'],
    ),
]
# The examples of cursors and of the Link header are signed cursors, made with the document
# (openapi.py): any other text is refused.
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="Opaque; copy it from the previous page's Link header"),
]

ETAG_HEADER = {
    "description": "Changes whenever the body does; send it back in If-None-Match",
    "schema": {"type": "string"},
    "example": '"5d41402abc4b2a76b9719d911017c592"',
}
NOT_MODIFIED: dict[str, Any] = {
    "description": "Not modified: If-None-Match still matches; no body",
    "headers": {"ETag": ETAG_HEADER},
    "content": {},
}


LINK_HEADER: dict[str, Any] = {
    "description": 'The next page, when there is one: `<url>; rel="next"`',
    "schema": {"type": "string"},
}


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def with_etag(
    body: bytes, if_none_match: str | None, headers: dict[str, str], etag: str | None = None
) -> Response:
    """The body with its ETag, or an empty 304 when the client already holds it."""
    etag = etag or etag_of(body)
    headers["ETag"] = etag
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return JSONBytes(body, headers=headers)


def next_link(request: Request, cursor: str) -> str:
    # A relative reference, resolved against the request's own URL, so a forged Host header
    # never ends up in a link.
    url = request.url.include_query_params(cursor=cursor)
    return f'<{url.path}?{url.query}>; rel="next"'


def _matches(if_none_match: str, etag: str) -> bool:
    # If-None-Match uses the weak comparison: a W/ prefix does not stop a match.
    candidates = [candidate.strip() for candidate in if_none_match.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == etag for c in candidates)
