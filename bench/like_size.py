"""What a like costs PostgreSQL to keep: `python -m bench.like_size`; `--help` for options.

Makes a PostgreSQL cluster of its own (durable settings, removed at the end), migrates it,
adds the small catalogue and `--users` users, then writes `--likes` likes of random users on
random videos through the service's own `videolikes_write_likes()`, `--batch` at a time as a
busy server batches them. Prints the WAL written per like and per user, and the bytes each
like and each user takes on disk (heap, TOAST and every index, after VACUUM), per table and
per index: the figures for sizing one primary and for planning a distributed one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg

from bench import data
from bench.server import BENCH_IP_HASH_SECRET, migrate
from bench.topology import PRIMARY_SETTINGS

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from pg_cluster import throwaway_cluster

DATABASE = "videolikes_size"
_WAL_POSITION = "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"
_INSERT_USERS = """
    INSERT INTO users (id, ip_hash, username)
    SELECT gen_random_uuid(), md5(g::text) || md5((-g)::text),
           '@user-' || substr(md5(g::text), 1, 6)
    FROM generate_series(1, $1) AS g
"""
_SIZES = """
    SELECT c.relname AS name, i.indrelid::regclass::text AS of_table,
           pg_relation_size(c.oid) AS bytes, pg_total_relation_size(c.oid) AS total
    FROM pg_class AS c LEFT JOIN pg_index AS i ON i.indexrelid = c.oid
    WHERE c.oid IN (SELECT 'users'::regclass UNION ALL SELECT 'video_likes'::regclass
                    UNION ALL SELECT indexrelid FROM pg_index
                    WHERE indrelid IN ('users'::regclass, 'video_likes'::regclass))
    ORDER BY of_table NULLS FIRST, name
"""


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.like_size", description=__doc__)
    parser.add_argument("--likes", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=32, help="likes per write statement")
    return parser.parse_args()


async def _measure(url: str, args: argparse.Namespace) -> list[str]:
    conn = await asyncpg.connect(data.asyncpg_dsn(url))
    try:
        return await _write_and_size(conn, args)
    finally:
        await conn.close()


async def _write_and_size(conn: Any, args: argparse.Namespace) -> list[str]:
    await conn.execute("CHECKPOINT")
    before = await conn.fetchval(_WAL_POSITION)
    await conn.execute(_INSERT_USERS, args.users)
    wal_users = await conn.fetchval(_WAL_POSITION) - before
    hashes = [row[0] for row in await conn.fetch("SELECT ip_hash FROM users")]
    # Distinct random (video, user) pairs, written in random order as visitors would.
    rng = random.Random(1)
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < args.likes:
        pairs.add((data.video_id(rng.randint(1, data.SMALL.videos)), rng.choice(hashes)))
    ordered = list(pairs)
    rng.shuffle(ordered)
    await conn.execute("CHECKPOINT")
    before = await conn.fetchval(_WAL_POSITION)
    for start in range(0, len(ordered), args.batch):
        batch = ordered[start : start + args.batch]
        await conn.execute(
            "SELECT count(*) FROM videolikes_write_likes($1, $2, $3, $4)",
            list(range(len(batch))),
            ["like"] * len(batch),
            [video for video, _ in batch],
            [ip_hash for _, ip_hash in batch],
        )
    wal_likes = await conn.fetchval(_WAL_POSITION) - before
    assert await conn.fetchval("SELECT count(*) FROM video_likes") == args.likes
    await conn.execute("VACUUM ANALYZE users, video_likes")
    lines = [
        f"{args.likes:,} likes in batches of {args.batch}, on {args.users:,} users"
        f" and {data.SMALL.videos:,} videos (checkpoint before each phase):",
        f"  WAL per like {wal_likes / args.likes:,.0f} B; per user created"
        f" {wal_users / args.users:,.0f} B",
    ]
    for row in await conn.fetch(_SIZES):
        likes = (row["of_table"] or row["name"]) == "video_likes"
        per, unit = (args.likes, "like") if likes else (args.users, "user")
        what = f"index {row['name']}" if row["of_table"] else f"table {row['name']}"
        size = row["bytes"] if row["of_table"] else row["total"]
        lines.append(
            f"  {what:<45} {size / per:7,.1f} B per {unit}"
            + ("" if row["of_table"] else f" (heap alone {row['bytes'] / per:,.1f} B)")
        )
    return lines


def main() -> None:
    args = _arguments()
    with throwaway_cluster(PRIMARY_SETTINGS) as cluster:
        data.recreate_database(cluster.url(), DATABASE)
        url = data.with_database(cluster.url(), DATABASE)
        with tempfile.TemporaryDirectory() as scratch:
            migrate(url, Path(scratch) / "migrate.log")
        data.load(url, data.SMALL, BENCH_IP_HASH_SECRET)
        print("\n".join(asyncio.run(_measure(url, args))))


if __name__ == "__main__":
    main()
