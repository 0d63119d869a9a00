"""A client's user: found (moved from the original's key when it has one) or created."""

from __future__ import annotations

from videolikes.db.tables import AnyRow
from videolikes.db.units import Database
from videolikes.identity import ClientKeys
from videolikes.users import repository


async def get_or_create(database: Database, client: ClientKeys) -> AnyRow:
    async with database.write() as conn:
        return await repository.get_or_create_user(conn, client=client)
