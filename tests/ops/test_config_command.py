"""videolikes config: the effective configuration, with nothing secret in it."""

from __future__ import annotations

from commands import videolikes

SECRETS = {
    "RECAPTCHA_SECRET_KEY": "rc-secret-6LdXyz",
    "IP_HASH_SECRET": "hash-secret-Qw3rty",
}
DATABASE_URL = "postgresql+asyncpg://app:db-pa55word@db.example:5432/videolikes"
REDIS_URL = "redis://:redis-pa55word@cache.example:6379/0"


async def test_config_prints_every_setting_with_secrets_and_url_passwords_masked() -> None:
    ran = await videolikes(
        "config",
        database_url=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        TRUSTED_PROXIES="10.0.0.0/8,192.168.0.0/16",
        LOG_FORMAT="json",
        **SECRETS,
    )
    assert ran.code == 0, ran.err
    lines = dict(line.split("=", 1) for line in ran.out.splitlines())
    for secret in (*SECRETS.values(), "db-pa55word", "redis-pa55word"):
        assert secret not in ran.out + ran.err
    assert lines["RECAPTCHA_SECRET_KEY"] == "********"
    assert lines["IP_HASH_SECRET"] == "********"
    assert lines["DATABASE_URL"] == "postgresql+asyncpg://app:********@db.example:5432/videolikes"
    assert lines["REDIS_URL"] == "redis://:********@cache.example:6379/0"
    assert lines["TRUSTED_PROXIES"] == "10.0.0.0/8,192.168.0.0/16"
    assert lines["LOG_FORMAT"] == "json"
    assert lines["RECAPTCHA_CHECK_ACTION"] == "false"
    assert {"WORKERS", "PORT", "RATE_LIMIT_WRITES", "CORS_ORIGINS"} <= set(lines)


async def test_config_says_when_the_ip_hash_secret_is_the_development_default() -> None:
    ran = await videolikes("config", database_url="sqlite+aiosqlite:///./x.db", IP_HASH_SECRET=None)
    assert "IP_HASH_SECRET=******** (the development default)" in ran.out


async def test_config_rejects_an_invalid_setting_with_exit_2() -> None:
    ran = await videolikes("config", database_url="sqlite+aiosqlite:///./x.db", WORKERS="many")
    assert ran.code == 2
    assert ran.err.splitlines() == [
        "invalid setting WORKERS: Input should be a valid integer, unable to parse string as an "
        "integer"
    ]


async def test_config_shows_a_libpq_database_url_served_through_asyncpg() -> None:
    ran = await videolikes("config", database_url="postgres://app:db-pa55word@db.example/likes")
    assert ran.code == 0, ran.err
    lines = dict(line.split("=", 1) for line in ran.out.splitlines())
    assert lines["DATABASE_URL"] == "postgresql+asyncpg://app:********@db.example/likes"
