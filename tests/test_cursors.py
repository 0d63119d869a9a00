"""Page cursors: they round-trip, and anything not made by this server is rejected."""

from __future__ import annotations

import uuid

import pytest

from videolikes.catalogue.repository import CatalogueKey, CatalogueQuery
from videolikes.cursors import Cursors, InvalidCursor
from videolikes.likes.client_likes import LikedKey

CURSORS = Cursors(b"secret")
QUERY = CatalogueQuery(sort="likes", playlist="coast", shorts=False)
CATALOGUE_KEY = CatalogueKey(42, "DEMO00000007")
LIKED_KEY = LikedKey("2026-11-27 12:00:00.123456", uuid.UUID(int=7))


def test_catalogue_cursor_round_trips() -> None:
    token = CURSORS.for_catalogue(QUERY, CATALOGUE_KEY)
    assert CURSORS.catalogue_key(token, QUERY) == CATALOGUE_KEY


def test_liked_cursor_round_trips() -> None:
    assert CURSORS.liked_key(CURSORS.for_liked(LIKED_KEY)) == LIKED_KEY


def test_cursor_is_url_safe_text() -> None:
    token = CURSORS.for_catalogue(QUERY, CATALOGUE_KEY)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_cursor_signed_with_another_secret_is_rejected() -> None:
    token = Cursors(b"other secret").for_catalogue(QUERY, CATALOGUE_KEY)
    with pytest.raises(InvalidCursor):
        CURSORS.catalogue_key(token, QUERY)


def test_every_single_character_change_is_rejected() -> None:
    token = CURSORS.for_catalogue(QUERY, CATALOGUE_KEY)
    for index, character in enumerate(token):
        replacement = "A" if character != "A" else "B"
        tampered = token[:index] + replacement + token[index + 1 :]
        with pytest.raises(InvalidCursor):
            CURSORS.catalogue_key(tampered, QUERY)


@pytest.mark.parametrize(
    "token", ["", ".", "..", "abc", "a.b", "a.b.c", "é.é", "%%%.%%%", "=" * 40, "A" * 400]
)
def test_garbage_is_rejected(token: str) -> None:
    with pytest.raises(InvalidCursor):
        CURSORS.catalogue_key(token, QUERY)
    with pytest.raises(InvalidCursor):
        CURSORS.liked_key(token)


def test_cursor_of_one_listing_is_rejected_by_the_other() -> None:
    with pytest.raises(InvalidCursor):
        CURSORS.liked_key(CURSORS.for_catalogue(QUERY, CATALOGUE_KEY))
    with pytest.raises(InvalidCursor):
        CURSORS.catalogue_key(CURSORS.for_liked(LIKED_KEY), QUERY)


@pytest.mark.parametrize(
    "other",
    [
        CatalogueQuery(sort="views", playlist="coast", shorts=False),
        CatalogueQuery(sort="likes", playlist=None, shorts=False),
        CatalogueQuery(sort="likes", playlist="coast", shorts=None),
    ],
)
def test_catalogue_cursor_only_fits_its_own_sort_and_filters(other: CatalogueQuery) -> None:
    with pytest.raises(InvalidCursor, match="another sort, playlist or shorts filter"):
        CURSORS.catalogue_key(CURSORS.for_catalogue(QUERY, CATALOGUE_KEY), other)


def test_invalid_cursor_is_a_400() -> None:
    assert InvalidCursor().status_code == 400
