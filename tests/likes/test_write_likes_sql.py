"""The PostgreSQL like function the database runs is the one kept beside the likes batch writes."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from conftest import opened_database, scalar

pytestmark = pytest.mark.postgres


def _body(definition: str) -> str:
    match = re.search(r"\$\$\n?(.*?)\$\$", definition, re.S)
    assert match is not None, "a dollar-quoted body"
    return match.group(1).strip()


async def test_the_migrated_function_is_the_one_in_write_likes_sql(postgres_url: str) -> None:
    kept = files("videolikes").joinpath("likes", "write_likes.sql").read_text()
    async with opened_database(postgres_url) as database:
        running = await scalar(
            database, "SELECT prosrc FROM pg_proc WHERE proname = 'videolikes_write_likes'"
        )
    assert running is not None
    assert running.strip() == _body(kept)
