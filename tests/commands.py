"""Run the real `videolikes` command in a subprocess, as an operator would."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import THROUGH_PGBOUNCER

from videolikes.config import Settings

VIDEOLIKES = str(Path(sys.executable).parent / "videolikes")
# Every variable that configures videolikes: none of the caller's may reach a command under test.
_SETTINGS = {name.upper() for name in Settings.model_fields}


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def command_env(database_url: str, **variables: str | None) -> dict[str, str]:
    """The test process's environment with only the given settings for videolikes.

    A variable given as None is left unset.
    """
    env = {key: value for key, value in os.environ.items() if key.upper() not in _SETTINGS}
    wanted: dict[str, str | None] = {
        "DATABASE_URL": database_url,
        "IP_HASH_SECRET": "test-ip-hash-secret",
    }
    if THROUGH_PGBOUNCER and database_url.startswith("postgresql"):
        wanted["DATABASE_POOLER"] = "transaction"
    wanted.update(variables)
    env.update({key: value for key, value in wanted.items() if value is not None})
    return env


async def videolikes(*args: str, database_url: str, **variables: str | None) -> Ran:
    process = await asyncio.create_subprocess_exec(
        VIDEOLIKES,
        *args,
        env=command_env(database_url, **variables),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(120):
        out, err = await process.communicate()
    assert process.returncode is not None
    return Ran(process.returncode, out.decode(), err.decode())
