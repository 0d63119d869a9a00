"""SQL for users: a client's user found, created, or moved from the original's key."""

from __future__ import annotations

import secrets
import string
import uuid
from typing import Any

from sqlalchemy import (
    ScalarSelect,
    exists,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from videolikes.db.tables import AnyRow, upsert_insert, users
from videolikes.identity import ClientKeys
from videolikes.legacy_identity import LEGACY_PREFIX
from videolikes.metrics import record_legacy_moves

_USERNAME_ALPHABET = string.ascii_lowercase + string.digits
_USERNAME_LENGTH = 6


def new_username() -> str:
    # One draw from the OS for all six characters (secrets.choice makes one per character;
    # every write of a batch names a user it may create), and as uniform.
    base = len(_USERNAME_ALPHABET)
    number = secrets.randbelow(base**_USERNAME_LENGTH)
    characters = []
    for _ in range(_USERNAME_LENGTH):
        number, digit = divmod(number, base)
        characters.append(_USERNAME_ALPHABET[digit])
    return "@user-" + "".join(characters)


def client_user_id(client: ClientKeys) -> ScalarSelect[Any]:
    """The id of this client's user: the one under its own hash, else the original's.

    COALESCE evaluates the second lookup only when the first finds nothing, so a client
    with a user of its own costs what it cost before adoption.
    """
    own = select(users.c.id).where(users.c.ip_hash == client.ip_hash).scalar_subquery()
    if client.legacy_hash is None:
        return own
    legacy = select(users.c.id).where(users.c.ip_hash == client.legacy_hash).scalar_subquery()
    return select(func.coalesce(own, legacy)).scalar_subquery()


_IS_LEGACY = users.c.ip_hash.startswith(LEGACY_PREFIX, autoescape=True)


async def legacy_users_remain(conn: AsyncConnection) -> bool:
    """Whether any user still waits under a key re-keyed from the original's hash."""
    return bool(await conn.scalar(select(exists().where(_IS_LEGACY))))


async def count_users(conn: AsyncConnection) -> tuple[int, int]:
    """(users still under a re-keyed original hash, users in all)."""
    row = (
        await conn.execute(select(func.count().filter(_IS_LEGACY), func.count()).select_from(users))
    ).one()
    return int(row[0]), int(row[1])


async def move_legacy_user(conn: AsyncConnection, client: ClientKeys) -> bool:
    """Give the original's user of this client its own hash, unless it has a user already.

    Race-free: a concurrent mover holds the row's lock, and once it commits the row no longer
    matches the legacy key, so the second finds nothing to move.
    """
    if client.legacy_hash is None:
        return False
    already = exists().where(users.c.ip_hash == client.ip_hash)
    moved = await conn.execute(
        update(users)
        .where(users.c.ip_hash == client.legacy_hash, ~already)
        .values(ip_hash=client.ip_hash)
    )
    return bool(moved.rowcount)


async def get_or_create_user(conn: AsyncConnection, *, client: ClientKeys) -> AnyRow:
    """The (id, username) of this client, created on first call; race-free on both databases.

    A user the original service knew is moved to this client's own hash first. The insert
    ignores a conflict with a concurrent creator and the select that follows runs on a fresh
    snapshot, so it sees whichever row won.
    """
    query = select(users.c.id, users.c.username).where(users.c.ip_hash == client.ip_hash)
    row = (await conn.execute(query)).first()
    if row is not None:
        return row
    if await move_legacy_user(conn, client):
        record_legacy_moves(1)
        return (await conn.execute(query)).one()
    await conn.execute(
        upsert_insert(conn, users)
        .values(id=uuid.uuid4(), ip_hash=client.ip_hash, username=new_username())
        .on_conflict_do_nothing(index_elements=["ip_hash"])
    )
    return (await conn.execute(query)).one()
