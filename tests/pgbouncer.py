"""A pgbouncer of the caller's own, in front of a PostgreSQL server, on a free port.

pgbouncer() writes a generated pgbouncer.ini (every database of the upstream server, trust
authentication, the pool mode and pool size asked for) into a temporary directory, starts
Debian's pgbouncer on it in the foreground, waits until it accepts connections, and stops it
and removes the directory when the block ends, however it ends. Run as root, pgbouncer
switches to the `postgres` OS user itself (-u), since it refuses to run as root.

The standard library only: the tests and the benchmark scripts both use it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pg_cluster import OS_USER, SUPERUSER, free_port

DEFAULT_PROGRAM = "/usr/sbin/pgbouncer"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 10.0


def program() -> Path:
    """Where pgbouncer is: $PGBOUNCER, else Debian's /usr/sbin/pgbouncer."""
    return Path(os.environ.get("PGBOUNCER", DEFAULT_PROGRAM))


def unavailable_reason() -> str | None:
    """Why no pgbouncer can be started here, or None when one can."""
    if not program().is_file():
        return (
            f"pgbouncer not found at {program()} (apt-get install -y pgbouncer, or set PGBOUNCER)"
        )
    return None


class PgbouncerError(RuntimeError):
    """pgbouncer did not start; the message has the end of its log."""


@dataclass
class Pgbouncer:
    port: int
    log: Path
    pid: int = 0

    def url(
        self, database: str, *, user: str = SUPERUSER, scheme: str = "postgresql+asyncpg"
    ) -> str:
        return f"{scheme}://{user}@127.0.0.1:{self.port}/{database}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@contextmanager
def pgbouncer(
    upstream_port: int,
    *,
    upstream_host: str = "127.0.0.1",
    pool_mode: str = "transaction",
    pool_size: int = 2,
    settings: Mapping[str, str] | None = None,
) -> Iterator[Pgbouncer]:
    """pgbouncer on a free port of 127.0.0.1, pooling `pool_size` server connections per
    database and user of the server at upstream_host:upstream_port; `settings` add to or
    override the [pgbouncer] section."""
    root = Path(tempfile.mkdtemp(prefix="videolikes-pgbouncer-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        bouncer = Pgbouncer(port, root / "pgbouncer.log")
        config = root / "pgbouncer.ini"
        users = root / "userlist.txt"
        users.write_text(f'"{SUPERUSER}" ""\n')
        options = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(port),
            # TCP only: no socket file in a shared directory such as /tmp.
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(users),
            "pool_mode": pool_mode,
            "default_pool_size": str(pool_size),
            "min_pool_size": "0",
            "reserve_pool_size": "0",
            "max_client_conn": "1000",
            "admin_users": SUPERUSER,
            "logfile": str(bouncer.log),
            "pidfile": str(root / "pgbouncer.pid"),
            **(settings or {}),
        }
        config.write_text(
            f"[databases]\n* = host={upstream_host} port={upstream_port}\n\n[pgbouncer]\n"
            + "".join(f"{name} = {value}\n" for name, value in options.items())
        )
        command = [str(program()), str(config)]
        if os.geteuid() == 0:
            shutil.chown(root, OS_USER)
            for path in (config, users):
                shutil.chown(path, OS_USER)
            command[1:1] = ["-u", OS_USER]
        # Not a pipe: in the foreground pgbouncer writes its log to stderr too, and a pipe
        # nobody reads fills up and stops it.
        with (root / "stderr.log").open("wb") as stderr:
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
            )
        bouncer.pid = process.pid
        _wait_until_listening(process, bouncer, root / "stderr.log")
        yield bouncer
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_listening(
    process: subprocess.Popen[bytes], bouncer: Pgbouncer, stderr: Path
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = stderr.read_text(errors="replace").strip()
            raise PgbouncerError(f"pgbouncer exited: {said[-2000:]}")
        with suppress(OSError), socket.create_connection(("127.0.0.1", bouncer.port), timeout=1):
            return
        time.sleep(0.05)
    raise PgbouncerError(f"pgbouncer did not listen within {_START_TIMEOUT:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM: pgbouncer's immediate shutdown; SIGKILL if it outlives the wait."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=_STOP_TIMEOUT)
