"""videolikes_write_likes(): a batch of like writes, video locks first, in one statement.

A batch of like writes must lock its videos before it reads their like rows, and must read
them with a snapshot taken after the locks: under READ COMMITTED that takes two statements,
and with BEGIN and COMMIT four round trips, three of them while the videos stay locked. A
VOLATILE function takes a fresh snapshot for each statement in it, so called as one
autocommitted statement it locks, writes and commits in a single round trip (measured in
BENCHMARKS.md).

On PostgreSQL only; the SQLite store writes one like at a time in its own transactions.

Revision ID: 0003_write_likes_function
Revises: 0002_likes_by_user
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_write_likes_function"
down_revision: str | None = "0002_likes_by_user"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per write whose video exists, in no particular order. Each (client, video) pair
# comes once (the caller folds repeated writes of a pair into one op), so every write reads
# the same snapshot without depending on another: a toggle removes a like that was there and
# adds one that was not, a like adds, an unlike removes, "none" only reports what is there. A
# client without a user row has no likes, and gets none: the caller creates users first. Each
# video's counter moves once, by the batch's net change, and never below zero.
_CREATE = """
CREATE FUNCTION videolikes_write_likes(
    positions int[], ops text[], video_ids text[], ip_hashes text[]
) RETURNS TABLE ("position" int, existed boolean, removed boolean, added boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    found_ids text[];
BEGIN
    -- Every like write locks its videos in id order before it reads a like row, so writes
    -- to one video queue here, and queue without deadlocking.
    found_ids := ARRAY(
        SELECT id FROM videos WHERE id = ANY(video_ids) ORDER BY id FOR NO KEY UPDATE
    );
    RETURN QUERY
    WITH write AS (
        SELECT w.position, w.op, w.video_id, users.id AS user_id
        FROM unnest(positions, ops, video_ids, ip_hashes) AS w(position, op, video_id, ip_hash)
        LEFT JOIN users ON users.ip_hash = w.ip_hash
        WHERE w.video_id = ANY(found_ids)
    ), existing AS (
        SELECT write.position FROM write
        JOIN video_likes AS l
          ON l.video_id = write.video_id AND l.user_id = write.user_id AND l.is_like
    ), removed AS (
        DELETE FROM video_likes AS l USING write
        WHERE l.video_id = write.video_id AND l.user_id = write.user_id AND l.is_like
          AND write.op IN ('toggle', 'unlike')
        RETURNING write.position, write.video_id
    ), added AS (
        INSERT INTO video_likes (id, video_id, user_id, is_like)
        SELECT gen_random_uuid(), write.video_id, write.user_id, true FROM write
        WHERE write.op IN ('toggle', 'like') AND write.user_id IS NOT NULL
          AND write.position NOT IN (SELECT position FROM existing)
        ON CONFLICT ON CONSTRAINT video_user_unique DO NOTHING
        RETURNING video_id, user_id
    ), net AS (
        SELECT video_id, sum(change) AS change FROM (
            SELECT video_id, 1 AS change FROM added
            UNION ALL SELECT video_id, -1 FROM removed
        ) AS changes
        GROUP BY video_id
    ), counted AS (
        UPDATE videos SET likes = GREATEST(videos.likes + net.change, 0)
        FROM net WHERE videos.id = net.video_id AND net.change <> 0
        RETURNING 1
    )
    SELECT write.position,
           write.position IN (SELECT position FROM existing),
           write.position IN (SELECT position FROM removed),
           EXISTS (SELECT 1 FROM added
                   WHERE added.video_id = write.video_id AND added.user_id = write.user_id)
    FROM write;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION videolikes_write_likes(int[], text[], text[], text[])")
