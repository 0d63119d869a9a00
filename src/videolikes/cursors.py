"""Opaque page cursors: signed tokens a client hands back unchanged but cannot forge.

A cursor is base64url(JSON) "." base64url(HMAC). Anything that does not verify, or that was
made for another sort or filter, is a 400 before it gets near the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime
from typing import Any

import orjson

from videolikes.catalogue.repository import CatalogueKey, CatalogueQuery
from videolikes.comments.repository.reads import CommentKey
from videolikes.errors import BadRequest
from videolikes.likes.client_likes import LikedKey

_SIGNATURE_BYTES = 16
_CATALOGUE = "v"
_LIKED = "l"
_COMMENTS = "c"


class InvalidCursor(BadRequest):
    message = "Invalid cursor: pass back the one from the Link header unchanged"


class Cursors:
    def __init__(self, secret: bytes) -> None:
        # A key of its own, so a cursor's signature reveals nothing about the IP-hash key.
        self._key = hmac.new(secret, b"videolikes page cursor", hashlib.sha256).digest()

    def for_catalogue(self, query: CatalogueQuery, key: CatalogueKey) -> str:
        return self._encode([_CATALOGUE, *_scope(query), key.value, key.video_id])

    def catalogue_key(self, token: str, query: CatalogueQuery) -> CatalogueKey:
        payload = self._decode(token)
        if payload[:4] != [_CATALOGUE, *_scope(query)]:
            raise InvalidCursor(
                "Invalid cursor: it belongs to another sort, playlist or shorts filter"
            )
        match payload[4:]:
            case [int() as value, str() as video_id]:
                return CatalogueKey(value, video_id)
        raise InvalidCursor

    def for_liked(self, key: LikedKey) -> str:
        return self._encode([_LIKED, key.created_at, key.like_id.hex])

    def liked_key(self, token: str) -> LikedKey:
        match self._decode(token):
            case [str(kind), str(created_at), str(like_id)] if kind == _LIKED:
                try:
                    datetime.fromisoformat(created_at)
                    return LikedKey(created_at, uuid.UUID(hex=like_id))
                except ValueError:
                    pass
        raise InvalidCursor

    def for_comments(self, video_id: str, key: CommentKey) -> str:
        return self._encode([_COMMENTS, video_id, key.created_at.isoformat(), key.comment_id.hex])

    def comments_key(self, token: str, video_id: str) -> CommentKey:
        match self._decode(token):
            case [str(kind), str(of_video), str(created_at), str(comment_id)] if kind == _COMMENTS:
                if of_video != video_id:
                    raise InvalidCursor("Invalid cursor: it belongs to another video's comments")
                try:
                    return CommentKey(datetime.fromisoformat(created_at), uuid.UUID(hex=comment_id))
                except ValueError:
                    pass
        raise InvalidCursor

    def _encode(self, payload: list[Any]) -> str:
        data = orjson.dumps(payload)
        return f"{_b64encode(data)}.{_b64encode(self._sign(data))}"

    def _decode(self, token: str) -> list[Any]:
        try:
            data_part, signature_part = token.split(".")
            data, signature = _b64decode(data_part), _b64decode(signature_part)
        except ValueError:
            raise InvalidCursor from None
        if not hmac.compare_digest(signature, self._sign(data)):
            raise InvalidCursor
        # Base64 ignores stray characters and unused trailing bits; only the exact text this
        # server wrote is a cursor.
        if token != f"{_b64encode(data)}.{_b64encode(signature)}":
            raise InvalidCursor
        payload = orjson.loads(data)
        if not isinstance(payload, list):
            raise InvalidCursor
        return payload

    def _sign(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _scope(query: CatalogueQuery) -> list[Any]:
    return [query.sort, query.playlist, query.shorts]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
