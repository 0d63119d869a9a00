"""Comments in the original service's wire format, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import RunningApp, execute, scalar, seed_demo
from sqlalchemy import insert, update

from videolikes.db.tables import comments
from videolikes.db.units import Database

VIDEO = "DEMO00000001"
OTHER_VIDEO = "DEMO00000002"
COMMENTS = f"/api/videos/{VIDEO}/comments"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture(autouse=True)
async def _demo(database: Database) -> None:
    await seed_demo(database)


async def post(
    client: httpx.AsyncClient, content: str, parent: str | None = None, video: str = VIDEO
) -> httpx.Response:
    body: dict[str, Any] = {"content": content}
    if parent is not None:
        body["parentId"] = parent
    return await client.post(f"/api/videos/{video}/comments", json=body)


async def test_a_video_without_comments_answers_an_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get(COMMENTS)
    assert response.status_code == 200
    assert response.json() == {"comments": [], "totalCount": 0}
    assert "link" not in response.headers


async def test_posting_answers_201_with_the_new_comment_in_the_originals_shape(
    client: httpx.AsyncClient,
) -> None:
    me = (await client.get("/api/me")).json()
    before = datetime.now(UTC)
    response = await post(client, "  What a harbour view!  ")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "content", "createdAt", "user", "likes", "userLike", "replies"}
    uuid.UUID(body["id"])
    assert body["content"] == "What a harbour view!"
    assert TIMESTAMP.fullmatch(body["createdAt"])
    created = datetime.strptime(body["createdAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) < created < datetime.now(UTC) + timedelta(seconds=1)
    assert body["user"] == {"id": me["id"], "username": me["username"]}
    assert (body["likes"], body["userLike"], body["replies"]) == (0, None, [])


async def test_listing_nests_replies_oldest_first_under_comments_newest_first(
    client: httpx.AsyncClient,
) -> None:
    first = (await post(client, "first")).json()
    second = (await post(client, "second")).json()
    reply_a = (await post(client, "reply a", parent=first["id"])).json()
    reply_b = (await post(client, "reply b", parent=first["id"])).json()
    await post(client, "elsewhere", video=OTHER_VIDEO)

    body = (await client.get(COMMENTS)).json()
    assert body["totalCount"] == 4
    assert [c["content"] for c in body["comments"]] == ["second", "first"]
    listed_second, listed_first = body["comments"]
    assert listed_second == second
    assert [r["content"] for r in listed_first["replies"]] == ["reply a", "reply b"]
    for reply, posted in zip(listed_first["replies"], (reply_a, reply_b), strict=True):
        assert "replies" not in reply
        assert set(reply) == {"id", "content", "createdAt", "user", "likes", "userLike"}
        assert reply == {k: v for k, v in posted.items() if k != "replies"}
        assert TIMESTAMP.fullmatch(reply["createdAt"])


async def test_total_count_is_the_listed_top_level_comments_plus_every_reply(
    client: httpx.AsyncClient, database: Database
) -> None:
    parents = [(await post(client, f"c{n}")).json()["id"] for n in range(3)]
    await post(client, "r", parent=parents[0])
    await post(client, "r", parent=parents[2])
    body = (await client.get(f"{COMMENTS}?limit=2")).json()
    # Two listed, and both replies of the video, although one hangs under an unlisted comment.
    assert (len(body["comments"]), body["totalCount"]) == (2, 4)


async def test_likes_are_counted_and_user_like_is_per_client(api: RunningApp) -> None:
    async with api.client("203.0.113.1") as one, api.client("203.0.113.2") as two:
        comment = (await post(one, "like me")).json()
        reply = (await post(two, "me too", parent=comment["id"])).json()
        like = f"/api/comments/{comment['id']}/like"
        assert (await one.post(like)).json() == {"userLike": True}
        assert (await two.post(like)).json() == {"userLike": True}
        assert (await two.post(f"/api/comments/{reply['id']}/like")).json() == {"userLike": True}

        seen_by_one = (await one.get(COMMENTS)).json()["comments"][0]
        assert (seen_by_one["likes"], seen_by_one["userLike"]) == (2, True)
        assert (seen_by_one["replies"][0]["likes"], seen_by_one["replies"][0]["userLike"]) == (
            1,
            None,
        )
        assert (await one.post(like)).json() == {"userLike": None}
        seen_by_two = (await two.get(COMMENTS)).json()["comments"][0]
        assert (seen_by_two["likes"], seen_by_two["userLike"]) == (1, True)
        assert seen_by_two["replies"][0]["userLike"] is True


async def test_put_and_delete_of_a_comment_like_are_idempotent(client: httpx.AsyncClient) -> None:
    comment = (await post(client, "steady")).json()
    like = f"/api/comments/{comment['id']}/like"
    for _ in range(2):
        assert (await client.put(like)).json() == {"userLike": True}
    assert (await client.get(COMMENTS)).json()["comments"][0]["likes"] == 1
    for _ in range(2):
        assert (await client.delete(like)).json() == {"userLike": None}
    assert (await client.get(COMMENTS)).json()["comments"][0]["likes"] == 0


async def test_reading_comments_never_creates_a_user(api: RunningApp, database: Database) -> None:
    async with api.client("203.0.113.1") as writer, api.client("203.0.113.2") as reader:
        comment = (await post(writer, "hello")).json()
        assert (await reader.get(COMMENTS)).status_code == 200
        assert (await reader.delete(f"/api/comments/{comment['id']}/like")).status_code == 200
    assert await scalar(database, "SELECT count(*) FROM users") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "Content is required"),
        ("   \n\t ", "Content is required"),
        (None, "Content is required"),
        ("x" * 301, "Comment must be 300 characters or less"),
    ],
)
async def test_content_is_required_and_at_most_300_characters(
    client: httpx.AsyncClient, database: Database, content: str | None, message: str
) -> None:
    response = await client.post(COMMENTS, json={"content": content})
    assert (response.status_code, response.json()) == (400, {"error": message})
    assert await scalar(database, "SELECT count(*) FROM comments") == 0


async def test_300_characters_after_trimming_are_accepted_even_as_4_byte_characters(
    client: httpx.AsyncClient,
) -> None:
    # 1,200 bytes of UTF-8; as JSON escapes (ensure_ascii) 3,600 bytes, above the 1 KiB bound.
    content = "\U0001f600" * 300
    response = await client.post(
        COMMENTS,
        content=('{"content": "  ' + content.encode("unicode_escape").decode() + '  "}')
        .replace("\\U0001f600", "\\ud83d\\ude00")
        .encode(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["content"] == content


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'"content"',
        b"",
        b'{"content": 5}',
        b'{"content": ["a"]}',
        b'{"content": "ok", "parentId": 7}',
        b'{"content": "ok", "parentId": "not-a-uuid"}',
        b"\xff\xfe",
    ],
)
async def test_a_malformed_body_is_400_with_an_error_body(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(COMMENTS, content=body)
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


async def test_a_body_over_8_kib_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(COMMENTS, content=b'{"content": "' + b" " * 9000 + b'x"}')
    assert (response.status_code, response.json()) == (413, {"error": "Request body too large"})


async def test_other_endpoints_keep_the_1_kib_bound(client: httpx.AsyncClient) -> None:
    response = await client.post(f"/api/videos/{VIDEO}/like", content=b" " * 2000)
    assert response.status_code == 413


async def test_a_parent_must_be_a_top_level_comment_of_the_same_video(
    client: httpx.AsyncClient, database: Database
) -> None:
    top = (await post(client, "top")).json()
    reply = (await post(client, "reply", parent=top["id"])).json()
    elsewhere = (await post(client, "elsewhere", video=OTHER_VIDEO)).json()
    for parent in (reply["id"], elsewhere["id"], str(uuid.uuid4())):
        response = await post(client, "nested?", parent=parent)
        assert response.status_code == 400
        assert "parentId" in response.json()["error"]
    assert await scalar(database, "SELECT count(*) FROM comments") == 3


async def test_unknown_video_is_404_for_reading_and_posting(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/videos/NO_SUCH_VIDEO/comments"),
        await post(client, "hello", video="NO_SUCH_VIDEO"),
    ):
        assert (response.status_code, response.json()) == (404, {"error": "Video not found"})


async def test_malformed_video_id_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/videos/bad%20id/comments")
    assert response.status_code == 400
    assert "video id" in response.json()["error"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_unknown_comment_is_404_and_malformed_id_is_400(
    client: httpx.AsyncClient, method: str
) -> None:
    unknown = await client.request(method, f"/api/comments/{uuid.uuid4()}/like")
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Comment not found"})
    malformed = await client.request(method, "/api/comments/42/like")
    assert malformed.status_code == 400
    assert "commentId" in malformed.json()["error"]


async def test_the_eleventh_comment_within_24_hours_is_429(
    client: httpx.AsyncClient, database: Database
) -> None:
    for n in range(10):
        assert (await post(client, f"comment {n}")).status_code == 201
    refused = await post(client, "one more")
    assert (refused.status_code, refused.json()) == (
        429,
        {"error": "You have left too many comments already"},
    )
    # Per video: another video still takes this client's comments.
    assert (await post(client, "elsewhere", video=OTHER_VIDEO)).status_code == 201
    # A day later the oldest no longer count.
    async with database.transaction() as conn:
        await conn.execute(
            update(comments)
            .where(comments.c.content == "comment 0")
            .values(created_at=datetime(2020, 1, 1))
        )
    assert (await post(client, "next day")).status_code == 201


async def test_forwarding_headers_do_not_escape_the_daily_cap(client: httpx.AsyncClient) -> None:
    for n in range(12):
        headers = {"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"198.51.100.{n}"}
        response = await client.post(COMMENTS, json={"content": f"spam {n}"}, headers=headers)
        assert response.status_code == (201 if n < 10 else 429)


async def test_pages_follow_the_link_header_through_every_top_level_comment(
    client: httpx.AsyncClient, database: Database
) -> None:
    ids = [(await post(client, f"c{n}")).json()["id"] for n in range(7)]
    # Same timestamps for several comments: the id breaks ties, and no page repeats or skips.
    async with database.transaction() as conn:
        await conn.execute(update(comments).values(created_at=datetime(2026, 11, 27, 13)))
    seen: list[str] = []
    url: str | None = f"{COMMENTS}?limit=3"
    pages = 0
    while url is not None and pages < 5:
        response = await client.get(url)
        assert response.status_code == 200
        seen += [c["id"] for c in response.json()["comments"]]
        link = response.headers.get("link")
        url = None if link is None else re.fullmatch(r'<(.+)>; rel="next"', link).group(1)  # type: ignore[union-attr]
        pages += 1
    assert pages == 3
    assert sorted(seen) == sorted(ids)
    assert seen == sorted(ids, reverse=True)


async def test_the_plain_get_answers_the_100_newest_with_a_link_to_the_rest(
    api: RunningApp, database: Database
) -> None:
    await _many_comments(database, 103)
    async with api.client() as client:
        first = await client.get(COMMENTS)
        body = first.json()
        assert len(body["comments"]) == 100
        assert body["comments"][0]["content"] == "n102"
        link = first.headers["link"]
        rest = await client.get(link[1 : link.index(">")])
    assert [c["content"] for c in rest.json()["comments"]] == ["n2", "n1", "n0"]
    assert "link" not in rest.headers


async def test_a_cursor_of_another_video_or_a_forged_one_is_400(
    client: httpx.AsyncClient, database: Database
) -> None:
    await _many_comments(database, 3)
    link = (await client.get(f"{COMMENTS}?limit=1")).headers["link"]
    cursor = link[link.index("cursor=") + len("cursor=") : link.index(">")]
    for url in (
        f"/api/videos/{OTHER_VIDEO}/comments?cursor={cursor}",
        f"{COMMENTS}?cursor={cursor[:-2]}xx",
    ):
        response = await client.get(url)
        assert response.status_code == 400
        assert "cursor" in response.json()["error"]


async def _many_comments(database: Database, count: int) -> None:
    await execute(
        database,
        "INSERT INTO users (id, ip_hash, username) VALUES (:id, 'h-many', '@user-many00')",
        id=_USER.hex if database.is_sqlite else _USER,
    )
    start = datetime(2026, 11, 1)
    async with database.transaction() as conn:
        await conn.execute(
            insert(comments),
            [
                {
                    "id": uuid.uuid4(),
                    "video_id": VIDEO,
                    "user_id": _USER,
                    "content": f"n{n}",
                    "created_at": start + timedelta(minutes=n),
                }
                for n in range(count)
            ],
        )


_USER = uuid.UUID("6f1c2b9e-4a3d-4e5f-8a7b-1c2d3e4f5a6b")


async def test_a_chunked_body_over_8_kib_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"content": "'
        for _ in range(10):
            yield b" " * 1000
        yield b'x"}'

    response = await client.post(COMMENTS, content=chunks())
    assert (response.status_code, response.json()) == (413, {"error": "Request body too large"})


async def test_an_oversized_recaptcha_header_is_400_on_every_comment_write(
    client: httpx.AsyncClient,
) -> None:
    comment = (await post(client, "First")).json()["id"]
    oversized = {"X-Recaptcha-Token": "t" * 4097}
    writes = [
        client.post(COMMENTS, json={"content": "Hello"}, headers=oversized),
        client.post(f"/api/comments/{comment}/like", headers=oversized),
        client.put(f"/api/comments/{comment}/like", headers=oversized),
        client.delete(f"/api/comments/{comment}/like", headers=oversized),
    ]
    for write in writes:
        response = await write
        assert response.status_code == 400
        assert response.json() == {
            "error": "Invalid X-Recaptcha-Token: String should have at most 4096 characters"
        }
