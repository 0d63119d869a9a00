"""`videolikes comments ...`: the operator removes comments, with their replies and likes.

Safe while serving: each removal is one transaction that locks the comments first
(repository.removal.remove_comments), so a reply or like written at the same time either lands
before the removal and goes with it, or finds its comment gone.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import typer

from videolikes.comments.repository import removal
from videolikes.comments.repository.removal import Removed
from videolikes.config import Settings
from videolikes.db.units import Database, create_engine

comments_app = typer.Typer(help="Moderate comments.", no_args_is_help=True)


async def remove_comment(database: Database, comment_id: uuid.UUID) -> Removed:
    async with database.transaction() as conn:
        return await removal.remove_comments(conn, comment_ids=[comment_id])


async def remove_comments_of(database: Database, user_ids: list[uuid.UUID]) -> Removed:
    async with database.transaction() as conn:
        return await removal.remove_comments(conn, user_ids=user_ids)


async def users_named(database: Database, username: str) -> list[uuid.UUID]:
    async with database.read() as conn:
        return await removal.user_ids_named(conn, username)


async def user_exists(database: Database, user_id: uuid.UUID) -> bool:
    async with database.read() as conn:
        return await removal.user_exists(conn, user_id)


def _describe(removed: Removed) -> str:
    return (
        f"removed {removed.comments} comment(s), {removed.replies} repl(ies) to them "
        f"and {removed.likes} comment like(s)"
    )


def _parse_id(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise typer.BadParameter(f"{what} must be a UUID, got {value!r}") from None


@comments_app.command("remove")
def remove(
    comment_id: Annotated[str, typer.Argument(metavar="COMMENT_ID", help="The comment's id")],
) -> None:
    """Remove one comment; its replies and every like of them go with it."""
    parsed = _parse_id(comment_id, "COMMENT_ID")

    async def run() -> Removed:
        database = Database(create_engine(Settings()))
        try:
            return await remove_comment(database, parsed)
        finally:
            await database.dispose()

    removed = asyncio.run(run())
    if removed.comments == 0:
        typer.echo(f"no comment {parsed}", err=True)
        raise typer.Exit(1)
    typer.echo(f"comment {parsed}: {_describe(removed)}")


@comments_app.command("remove-by-user")
def remove_by_user(
    username: Annotated[
        str | None, typer.Option("--username", help="Every user of this name")
    ] = None,
    user_id: Annotated[str | None, typer.Option("--user-id", help="The user's id")] = None,
) -> None:
    """Remove every comment of one user, with the replies to them and their likes."""
    if (username is None) == (user_id is None):
        raise typer.BadParameter("give exactly one of --username and --user-id")
    wanted = None if user_id is None else _parse_id(user_id, "--user-id")

    async def run() -> tuple[list[uuid.UUID], Removed]:
        database = Database(create_engine(Settings()))
        try:
            if wanted is not None:
                found = [wanted] if await user_exists(database, wanted) else []
            else:
                assert username is not None
                found = await users_named(database, username)
            if not found:
                return [], Removed(0, 0, 0)
            return found, await remove_comments_of(database, found)
        finally:
            await database.dispose()

    found, removed = asyncio.run(run())
    if not found:
        typer.echo(f"no user {username or wanted}", err=True)
        raise typer.Exit(1)
    names = ", ".join(str(user) for user in found)
    typer.echo(f"user(s) {names}: {_describe(removed)}")
