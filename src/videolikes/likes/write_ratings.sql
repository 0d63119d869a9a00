-- videolikes_write_ratings(): a batch of like and dislike writes, video locks first, in one
-- statement; what videolikes_write_likes() does for likes alone, for both ratings. The live
-- definition of the function that migration 0006 created; a change to it comes with a
-- migration that creates the new body, and tests/likes/test_write_likes_sql.py checks that the
-- migrated database runs exactly this.
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
