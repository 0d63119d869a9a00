"""`videolikes comments remove` and `remove-by-user`, run as the operator runs them."""

from __future__ import annotations

import uuid

import httpx
import pytest
from commands import videolikes
from conftest import RunningApp, scalar, seed_demo

from videolikes.db.units import Database

VIDEO = "DEMO00000001"
COMMENTS = f"/api/videos/{VIDEO}/comments"


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


async def _post(client: httpx.AsyncClient, content: str, parent: str | None = None) -> str:
    body = {"content": content} if parent is None else {"content": content, "parentId": parent}
    response = await client.post(COMMENTS, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_remove_takes_the_comment_its_replies_and_their_likes(
    api: RunningApp, database: Database, database_url: str
) -> None:
    async with api.client("203.0.113.1") as one, api.client("203.0.113.2") as two:
        doomed = await _post(one, "spam")
        kept = await _post(one, "fine")
        reply = await _post(two, "reply to spam", parent=doomed)
        await _post(two, "reply to fine", parent=kept)
        for comment in (doomed, reply, kept):
            assert (await two.put(f"/api/comments/{comment}/like")).status_code == 200

        removed = await videolikes("comments", "remove", doomed, database_url=database_url)
        assert removed.code == 0, removed.err
        assert removed.out.strip() == (
            f"comment {doomed}: removed 1 comment(s), 1 repl(ies) to them and 2 comment like(s)"
        )
        body = (await one.get(COMMENTS)).json()
    assert [c["id"] for c in body["comments"]] == [kept]
    assert body["totalCount"] == 2
    assert await scalar(database, "SELECT count(*) FROM comment_likes") == 1


async def test_remove_of_an_unknown_or_malformed_id_says_so(database_url: str) -> None:
    unknown = uuid.uuid4()
    missing = await videolikes("comments", "remove", str(unknown), database_url=database_url)
    assert (missing.code, missing.err.strip()) == (1, f"no comment {unknown}")
    malformed = await videolikes("comments", "remove", "42", database_url=database_url)
    assert malformed.code == 2
    assert "must be a UUID" in malformed.err


async def test_remove_by_user_takes_every_comment_of_that_user_by_name_or_id(
    api: RunningApp, database: Database, database_url: str
) -> None:
    async with api.client("203.0.113.1") as spammer, api.client("203.0.113.2") as other:
        me = (await spammer.get("/api/me")).json()
        top = await _post(spammer, "buy now")
        await _post(spammer, "buy now again", parent=await _post(other, "a question"))
        await _post(other, "why?", parent=top)
        await other.post(f"/api/comments/{top}/like")

        by_name = await videolikes(
            "comments", "remove-by-user", "--username", me["username"], database_url=database_url
        )
        assert by_name.code == 0, by_name.err
        assert by_name.out.strip() == (
            f"user(s) {me['id']}: removed 2 comment(s), 1 repl(ies) to them and 1 comment like(s)"
        )
        body = (await other.get(COMMENTS)).json()
        assert [c["content"] for c in body["comments"]] == ["a question"]
        assert body["comments"][0]["replies"] == []

        by_id = await videolikes(
            "comments", "remove-by-user", "--user-id", me["id"], database_url=database_url
        )
        assert by_id.code == 0, by_id.err
        assert "removed 0 comment(s)" in by_id.out


async def test_remove_by_user_needs_exactly_one_known_user(database_url: str) -> None:
    neither = await videolikes("comments", "remove-by-user", database_url=database_url)
    assert neither.code == 2
    nobody = await videolikes(
        "comments", "remove-by-user", "--username", "@user-nobody", database_url=database_url
    )
    assert (nobody.code, nobody.err.strip()) == (1, "no user @user-nobody")
