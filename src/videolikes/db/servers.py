"""Connecting to the first usable server of a URL's list, each server in its own time.

asyncpg tries a list's servers in order, but under one timeout for the whole list: a server
that takes the TCP connection and then never answers (frozen, or its host gone while its
address still routes) spends all of it, and the servers after it are never tried, so a
promoted standby listed after a hung primary would never be found. As libpq's
connect_timeout is per server, each server here gets a share of the list's time, and the
shares of all fit in a request's deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.exceptions import TargetServerAttributeNotMatched

from videolikes.db.errors import unavailable_reason


class NoUsableServer(ConnectionError):
    """No server of the list could be reached, or none has the wanted role; says why for each."""


@dataclass(frozen=True)
class ServerList:
    """asyncpg's connect for SQLAlchemy's asyncpg dialect, which passes a list's servers as
    lists of hosts and ports; a single server is asyncpg's own connect."""

    # The time for the whole list when its servers do not answer.
    within: float

    async def connect(
        self,
        *,
        host: str | list[str],
        port: int | list[int | None] | None = None,
        target_session_attrs: str | None = None,
        **options: Any,
    ) -> asyncpg.Connection:
        if not isinstance(host, list):
            return await asyncpg.connect(
                host=host, port=port, target_session_attrs=target_session_attrs, **options
            )
        ports = port if isinstance(port, list) else [port] * len(host)
        # libpq's prefer-standby: any standby of the list, else any server. asyncpg given a
        # single server with it would take that server whatever its role.
        roles = (
            ["standby", "any"]
            if target_session_attrs == "prefer-standby"
            else [target_session_attrs]
        )
        options["timeout"] = self.within / (len(host) * len(roles))
        failures: list[str] = []
        for role in roles:
            for number, (server_host, server_port) in enumerate(zip(host, ports, strict=True), 1):
                try:
                    return await asyncpg.connect(
                        host=server_host, port=server_port, target_session_attrs=role, **options
                    )
                except TargetServerAttributeNotMatched:
                    failures.append(f"server {number}: not {role}")
                except Exception as exc:
                    reason = unavailable_reason(exc)
                    if reason is None:
                        raise
                    failures.append(f"server {number}: {reason}")
        raise NoUsableServer(f"no usable server ({'; '.join(failures)})")
