"""videos.dislikes, the dislike counter, and videolikes_write_ratings() to keep it.

The original's video_likes already holds `is_like`, reserved for dislikes: a dislike is a row
with `is_like = false`, and no new table is needed. The counter starts from the rows, should
a database hold dislikes already. Adding a column with a constant default rewrites no row on
PostgreSQL, and a database that has the column (made by an earlier attempt) keeps it.

videolikes_write_ratings() is videolikes_write_likes() (0003) for both ratings: the like
writes go to it while dislikes are on (DISLIKES_ENABLED), and to the other while they are off.

Revision ID: 0006_dislikes
Revises: 0005_comment_like_counts
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_dislikes"
down_revision: str | None = "0005_comment_like_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One row per write whose video exists, in no particular order: the rating it found (`was`:
# true liked, false disliked, null neither) and the one it left. Each (client, video) pair
# comes once, as the map of the rating its folded writes make (the rating after it from
# neither, from liked, from disliked), so every write reads the same snapshot without
# depending on another. A client without a user row has no rating, and gets none: the caller
# creates users first. Each video's counters move once, by the batch's net change, and never
# below zero.
_CREATE = """
CREATE FUNCTION videolikes_write_ratings(
    positions int[], from_none boolean[], from_liked boolean[], from_disliked boolean[],
    video_ids text[], ip_hashes text[]
) RETURNS TABLE ("position" int, was boolean, rating boolean)
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
        SELECT w.position, w.video_id, users.id AS user_id, l.is_like AS was,
               CASE WHEN l.is_like IS NULL THEN w.from_none
                    WHEN l.is_like THEN w.from_liked
                    ELSE w.from_disliked END AS target
        FROM unnest(positions, from_none, from_liked, from_disliked, video_ids, ip_hashes)
             AS w(position, from_none, from_liked, from_disliked, video_id, ip_hash)
        LEFT JOIN users ON users.ip_hash = w.ip_hash
        LEFT JOIN video_likes AS l ON l.video_id = w.video_id AND l.user_id = users.id
        WHERE w.video_id = ANY(found_ids)
    ), removed AS (
        DELETE FROM video_likes AS l USING write
        WHERE l.video_id = write.video_id AND l.user_id = write.user_id
          AND write.was IS NOT NULL AND write.target IS NULL
        RETURNING write.video_id, write.was
    ), switched AS (
        -- A like that becomes a dislike (or back) is rated anew: it lists as of now.
        UPDATE video_likes AS l SET is_like = write.target, created_at = now()
        FROM write
        WHERE l.video_id = write.video_id AND l.user_id = write.user_id
          AND write.was IS NOT NULL AND write.target IS NOT NULL AND write.was <> write.target
        RETURNING write.video_id, write.target
    ), added AS (
        INSERT INTO video_likes (id, video_id, user_id, is_like)
        SELECT gen_random_uuid(), write.video_id, write.user_id, write.target FROM write
        WHERE write.was IS NULL AND write.target IS NOT NULL AND write.user_id IS NOT NULL
        ON CONFLICT ON CONSTRAINT video_user_unique DO NOTHING
        RETURNING video_id, user_id, is_like
    ), net AS (
        SELECT video_id, sum(likes) AS likes, sum(dislikes) AS dislikes FROM (
            SELECT video_id, CASE WHEN is_like THEN 1 ELSE 0 END AS likes,
                   CASE WHEN is_like THEN 0 ELSE 1 END AS dislikes FROM added
            UNION ALL SELECT video_id, CASE WHEN was THEN -1 ELSE 0 END,
                   CASE WHEN was THEN 0 ELSE -1 END FROM removed
            UNION ALL SELECT video_id, CASE WHEN target THEN 1 ELSE -1 END,
                   CASE WHEN target THEN -1 ELSE 1 END FROM switched
        ) AS changes
        GROUP BY video_id
    ), counted AS (
        UPDATE videos SET likes = GREATEST(videos.likes + net.likes, 0),
                          dislikes = GREATEST(videos.dislikes + net.dislikes, 0)
        FROM net WHERE videos.id = net.video_id AND (net.likes <> 0 OR net.dislikes <> 0)
        RETURNING 1
    )
    SELECT write.position, write.was,
           CASE WHEN write.was IS NULL AND write.target IS NOT NULL AND NOT EXISTS (
                    SELECT 1 FROM added
                    WHERE added.video_id = write.video_id AND added.user_id = write.user_id)
                THEN NULL
                ELSE write.target END
    FROM write;
END
$$
"""

# Only the videos with dislike rows are written.
_COUNT_DISLIKES = """
UPDATE videos SET dislikes = (
    SELECT count(*) FROM video_likes AS l WHERE l.video_id = videos.id AND NOT l.is_like
)
WHERE id IN (SELECT video_id FROM video_likes WHERE NOT is_like)
"""


def upgrade() -> None:
    bind = op.get_bind()
    columns = {column["name"] for column in sa.inspect(bind).get_columns("videos")}
    if "dislikes" not in columns:
        op.add_column(
            "videos",
            sa.Column("dislikes", sa.Integer(), server_default="0", nullable=False),
        )
    op.execute(_COUNT_DISLIKES)
    if bind.dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION videolikes_write_ratings(int[], boolean[], boolean[], boolean[], "
            "text[], text[])"
        )
    op.drop_column("videos", "dislikes")
