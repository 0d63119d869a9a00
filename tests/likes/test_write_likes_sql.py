"""The PostgreSQL like functions the database runs are the ones kept beside the batch writes."""

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


@pytest.mark.parametrize(
    ("function", "kept_in"),
    [
        ("videolikes_write_likes", "write_likes.sql"),
        ("videolikes_write_ratings", "write_ratings.sql"),
    ],
)
async def test_the_migrated_function_is_the_one_kept_beside_the_batch_writes(
    postgres_url: str, function: str, kept_in: str
) -> None:
    kept = files("videolikes").joinpath("likes", kept_in).read_text()
    async with opened_database(postgres_url) as database:
        running = await scalar(
            database, "SELECT prosrc FROM pg_proc WHERE proname = :name", name=function
        )
    assert running is not None
    assert running.strip() == _body(kept)
