"""What a pooler in transaction mode leaves to the server's own settings."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy.exc
from sqlalchemy import text

from videolikes.db.units import Database
from videolikes.errors import DatabaseUnavailable

_log = logging.getLogger(__name__)
# A start must not wait on a silent database; readiness says why it is silent.
_CHECK_SECONDS = 1.0


async def warn_unless_planned_for_values(database: Database) -> None:
    """Say so when the server may run cached plans made for other values.

    Behind a pooler the connections cannot ask for plan_cache_mode at connect. The service's
    own statements are unnamed and planned for their values anyway, but the statements inside
    a PL/pgSQL function (the like batch's) are cached per server connection, and a generic
    plan made on nearly empty tables scans them whole as they grow.
    """
    try:
        async with asyncio.timeout(_CHECK_SECONDS), database.read() as conn:
            mode = await conn.scalar(text("SELECT current_setting('plan_cache_mode')"))
    except (TimeoutError, DatabaseUnavailable, sqlalchemy.exc.DBAPIError):
        return
    if mode != "force_custom_plan":
        _log.warning(
            f"DATABASE_POOLER=transaction and the server's plan_cache_mode is {mode}: set it "
            "on the service's role (ALTER ROLE ... SET plan_cache_mode = force_custom_plan)"
        )
