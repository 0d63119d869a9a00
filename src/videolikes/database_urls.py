"""Database URLs as operators write them, turned into the form the engine reads.

libpq lists several servers in the authority (postgresql://h1:5432,h2:5433/db); SQLAlchemy
reads them as repeated host query parameters, which its asyncpg dialect hands to asyncpg,
which tries them in order and keeps the first whose role target_session_attrs accepts.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The URL forms other tools write (libpq's postgres:// and postgresql://, SQLAlchemy's bare
# sqlite://) name no asyncio driver; each of these databases is served through one.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}
DEFAULT_PORT = 5432
_EXPECTED = (
    "expected a database URL such as postgresql://user:password@host:5432/name "
    "(several servers: postgresql://user@h1:5432,h2:5433/name) or sqlite:///path/to/file.db"
)


def engine_url(value: str) -> str:
    """`value` with an asyncio driver and any libpq server list as host parameters.

    Raises ValueError with the expected forms, never quoting the value (it may hold a password).
    """
    scheme, separator, rest = value.partition("://")
    if separator and scheme in _ASYNC_DRIVERS:
        value = f"{_ASYNC_DRIVERS[scheme]}://{rest}"
    if value.startswith("postgresql"):
        value = _hosts_as_parameters(value)
    try:
        make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError(_EXPECTED) from None
    return value


def _hosts_as_parameters(url: str) -> str:
    parts = urlsplit(url)
    credentials, at, hosts = parts.netloc.rpartition("@")
    if "," not in hosts:
        return url
    servers = [_with_port(server.strip()) for server in hosts.split(",")]
    query = [*parse_qsl(parts.query, keep_blank_values=True), *(("host", s) for s in servers)]
    return urlunsplit(parts._replace(netloc=credentials + at, query=urlencode(query, safe=":")))


def _with_port(server: str) -> str:
    """`server` as SQLAlchemy needs each one of a list: with its port, libpq's default if none."""
    if not server:
        raise ValueError(_EXPECTED)
    if server.startswith("["):
        # SQLAlchemy splits each one of a list at its first colon.
        raise ValueError("an IPv6 address in a list of servers is not supported: use a host name")
    return server if ":" in server else f"{server}:{DEFAULT_PORT}"
