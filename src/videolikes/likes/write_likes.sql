-- videolikes_write_likes(): a batch of like writes, video locks first, in one statement.
-- The live definition of the function that migration 0003 created; a change to it comes with a
-- migration that creates the new body, and tests/test_write_likes_sql.py checks that the
-- migrated database runs exactly this.
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
