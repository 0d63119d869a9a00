"""A wrong setting is named with what is wrong, one line each, and no value is ever echoed.

Every command reads the settings; so does the app factory that uvicorn loads in a worker.
The secrets here are distinctive, so finding one anywhere in the output is a leak.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from commands import Ran, command_env, videolikes
from pg_cluster import free_port

SECRET = "Zq8-supersecret-4711"
DATABASE_PASSWORD = "Db-pa55-9931"
DATABASE_URL = f"postgresql://app:{DATABASE_PASSWORD}@127.0.0.1:1/likes"
MISSING_RECAPTCHA = "invalid setting RECAPTCHA_SECRET_KEY: must be set when ENVIRONMENT=production"

COMMANDS = [
    ["config"],
    ["serve"],
    ["db", "upgrade"],
    ["db", "adopt"],
    ["db", "adopt", "--check"],
    ["seed", "--demo"],
    ["import", "{file}"],
    ["reconcile"],
    ["reconcile", "--fix"],
]


def _args(command: list[str], tmp_path: Path) -> list[str]:
    file = tmp_path / "videos.json"
    file.write_text("[]", encoding="utf-8")
    return [arg.replace("{file}", str(file)) for arg in command]


def assert_leaks_nothing(ran: Ran) -> None:
    for secret in (SECRET, DATABASE_PASSWORD):
        assert secret not in ran.out + ran.err
    assert "input_value" not in ran.err
    assert "Traceback" not in ran.err


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
async def test_every_command_refuses_production_without_a_secret_and_echoes_none(
    tmp_path: Path, command: list[str]
) -> None:
    ran = await videolikes(
        *_args(command, tmp_path),
        database_url=DATABASE_URL,
        ENVIRONMENT="production",
        IP_HASH_SECRET=SECRET,
    )
    assert ran.code == 2
    assert ran.err.splitlines() == [MISSING_RECAPTCHA]
    assert_leaks_nothing(ran)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
async def test_every_command_names_each_wrong_setting_on_a_line_of_its_own(
    tmp_path: Path, command: list[str]
) -> None:
    # Secrets pasted into the wrong variables: the variables are named, the values are not.
    ran = await videolikes(
        *_args(command, tmp_path),
        database_url=DATABASE_URL,
        RECAPTCHA_SECRET_KEY=SECRET,
        WORKERS=SECRET,
        TRUSTED_PROXIES=f"10.0.0.0/8,{SECRET}",
        RATE_LIMIT_WRITES=SECRET,
        LOG_FORMAT=SECRET,
    )
    assert ran.code == 2
    problems = sorted(ran.err.splitlines())
    assert [line.split(":")[0] for line in problems] == [
        "invalid setting LOG_FORMAT",
        "invalid setting RATE_LIMIT_WRITES",
        "invalid setting TRUSTED_PROXIES",
        "invalid setting WORKERS",
    ]
    assert "TRUSTED_PROXIES: entry 2 is not an IP network" in ran.err
    assert_leaks_nothing(ran)


async def test_a_database_url_that_is_not_one_is_named_without_its_password() -> None:
    ran = await videolikes("config", database_url=f"app:{DATABASE_PASSWORD}@nowhere")
    assert ran.code == 2
    assert ran.err.startswith("invalid setting DATABASE_URL: expected a database URL")
    assert_leaks_nothing(ran)


async def test_the_app_factory_under_uvicorn_does_not_echo_a_secret() -> None:
    # The path a worker takes: uvicorn imports videolikes.app:create_app and calls it, which
    # reads the settings itself (`serve` checks them before, so this is uvicorn run directly).
    uvicorn = str(Path(sys.executable).parent / "uvicorn")
    process = await asyncio.create_subprocess_exec(
        uvicorn,
        "videolikes.app:create_app",
        "--factory",
        "--port",
        str(free_port()),
        env=command_env(DATABASE_URL, ENVIRONMENT="production", IP_HASH_SECRET=SECRET),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode != 0
    output = (out + err).decode()
    assert "must be set when ENVIRONMENT=production" in output
    assert SECRET not in output
    assert DATABASE_PASSWORD not in output
