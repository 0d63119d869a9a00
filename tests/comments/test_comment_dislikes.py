"""Comment dislikes, on SQLite and PostgreSQL: with DISLIKES_ENABLED, and without."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import RunningApp, running_app, scalar, seed_demo

from videolikes.config import Settings
from videolikes.db.units import Database

VIDEO = "DEMO00000001"
COMMENTS = f"/api/videos/{VIDEO}/comments"


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


async def _thread(client: httpx.AsyncClient) -> tuple[str, str]:
    """A comment and a reply to it."""
    comment = (await client.post(COMMENTS, json={"content": "first"})).json()
    reply = await client.post(COMMENTS, json={"content": "re", "parentId": comment["id"]})
    return comment["id"], reply.json()["id"]


async def _listed(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    body = (await client.get(COMMENTS)).json()
    return [*body["comments"], *(r for c in body["comments"] for r in c["replies"])]


async def test_a_comment_dislike_toggles_and_is_counted(rating_api: RunningApp) -> None:
    async with rating_api.client("198.51.100.1") as one, rating_api.client("198.51.100.2") as two:
        comment, reply = await _thread(one)
        posted = (await one.post(COMMENTS, json={"content": "another"})).json()
        assert (posted["dislikes"], posted["userLike"]) == (0, None)
        assert (await one.post(f"/api/comments/{comment}/dislike")).json() == {"userLike": False}
        assert (await two.put(f"/api/comments/{comment}/dislike")).json() == {"userLike": False}
        assert (await two.post(f"/api/comments/{reply}/dislike")).json() == {"userLike": False}
        listed = {c["id"]: c for c in await _listed(one)}
        assert (listed[comment]["dislikes"], listed[comment]["userLike"]) == (2, False)
        assert (listed[reply]["dislikes"], listed[reply]["userLike"]) == (1, None)
        assert "replies" not in listed[reply]
        # A like replaces the dislike.
        assert (await one.post(f"/api/comments/{comment}/like")).json() == {"userLike": True}
        listed = {c["id"]: c for c in await _listed(one)}
        assert (listed[comment]["likes"], listed[comment]["dislikes"]) == (1, 1)
        assert listed[comment]["userLike"] is True
        # Removing a dislike leaves the like; removing it again changes nothing.
        for _ in range(2):
            assert (await one.delete(f"/api/comments/{comment}/dislike")).json() == {
                "userLike": True
            }
        assert (await two.post(f"/api/comments/{comment}/dislike")).json() == {"userLike": None}
        listed = {c["id"]: c for c in await _listed(two)}
        assert (listed[comment]["likes"], listed[comment]["dislikes"]) == (1, 0)


async def test_a_dislike_of_an_unknown_comment_is_404(rating_api: RunningApp) -> None:
    async with rating_api.client() as client:
        unknown = await client.post("/api/comments/3e0c7d52-8b1a-4f6e-9c3d-2a1b0c9d8e7f/dislike")
        assert (unknown.status_code, unknown.json()) == (404, {"error": "Comment not found"})
        malformed = await client.post("/api/comments/not-a-uuid/dislike")
        assert malformed.status_code == 400


async def test_without_the_setting_comments_are_the_originals_whatever_the_rows_hold(
    dislikes_settings: Settings, api: RunningApp, database: Database
) -> None:
    async with running_app(dislikes_settings) as rating_api, rating_api.client() as rater:
        comment, _ = await _thread(rater)
        await rater.post(f"/api/comments/{comment}/dislike")
    async with api.client() as client:
        response = await client.post(f"/api/comments/{comment}/dislike")
        assert (response.status_code, response.json()) == (404, {"error": "Not found"})
        listed = await _listed(client)
        assert all("dislikes" not in c for c in listed)
        assert next(c for c in listed if c["id"] == comment)["userLike"] is None
        # The like writes leave the dislike as it is, and say "not liked".
        for method in ("POST", "PUT", "DELETE"):
            answer = await client.request(method, f"/api/comments/{comment}/like")
            assert answer.json() == {"userLike": None}
        assert next(c for c in await _listed(client) if c["id"] == comment)["likes"] == 0
    assert await scalar(database, "SELECT count(*) FROM comment_likes WHERE NOT is_like") == 1
