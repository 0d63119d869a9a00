"""A haproxy of the caller's own in front of some `videolikes serve` instances.

The config is generated into a temporary directory: one frontend on a free port of 127.0.0.1,
round robin over the given backends, each health-checked with `GET /ready`, and every timeout
bounded. haproxy runs in the foreground (`-db`) as a child process and is stopped, and its
directory removed, when the block ends, however it ends. Its admin socket reports each
backend's state and how many requests and answers went through it.

When no instance is ready, because what they all share is down, haproxy sends requests to
the instances that are alive (`GET /health`) rather than refusing them itself.

Clients reach the frontend; haproxy appends the address it saw them connect from to
X-Forwarded-For (`option forwardfor`) and connects to the instances from 127.0.0.1, so the
instances trust 127.0.0.1 and take the right-most entry that is not it as the client.

The standard library only: the tests and the benchmark scripts both use it.
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pg_cluster import free_port

HAPROXY = "/usr/sbin/haproxy"
BACKEND = "instances"
# The same instances, checked for being alive only; see config_text().
FALLBACK = "live_instances"
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_SOCKET_TIMEOUT = 2.0


def binary() -> str | None:
    return HAPROXY if Path(HAPROXY).is_file() else shutil.which("haproxy")


def unavailable_reason() -> str | None:
    """Why no haproxy can be started here, or None when one can."""
    if binary() is None:
        return "haproxy is not installed (apt-get install -y haproxy)"
    return None


@dataclass(frozen=True)
class Target:
    """One instance haproxy balances over: its name in the stats, and where it listens."""

    name: str
    port: int
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class TargetStats:
    name: str
    # UP, DOWN, or a transition such as "UP 1/2" while checks are changing its state.
    status: str
    requests: int
    answers_2xx: int
    answers_5xx: int
    # Connections haproxy could not make to it, and requests moved to another instance.
    connection_errors: int
    redispatched: int


def config_text(
    *,
    port: int,
    targets: Sequence[Target],
    admin_socket: Path,
    check_interval_ms: int,
    request_log: bool,
) -> str:
    servers = "\n".join(
        f"    server {target.name} {target.host}:{target.port} check" for target in targets
    )
    return f"""\
global
    maxconn 4096
    stats socket {admin_socket} mode 600 level admin
    log stdout format raw local0 {"info" if request_log else "warning"}

defaults
    mode http
    log global
    option httplog
    option forwardfor
    option http-keep-alive
    # A connection an instance refuses (it is down, checks have not noticed yet) is tried
    # again on another instance; a request already sent is never replayed, so a toggle
    # cannot be applied twice.
    option redispatch
    retries 2
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-request 5s
    timeout http-keep-alive 10s
    timeout queue 5s
    timeout check 1s

frontend videolikes
    bind 127.0.0.1:{port}
    # When no instance is ready, a shared dependency is down (the database, or Redis), not an
    # instance: the live ones still answer what they can (rate limits failing open, reads from
    # a replica, a quick JSON 503 for the rest), where haproxy alone would refuse everything.
    use_backend {FALLBACK} if {{ nbsrv({BACKEND}) eq 0 }}
    default_backend {BACKEND}

backend {BACKEND}
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    default-server inter {check_interval_ms}ms fall 2 rise 2
{servers}

backend {FALLBACK}
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    default-server inter {check_interval_ms}ms fall 2 rise 2
{servers}
"""


class Haproxy:
    def __init__(self, port: int, admin_socket: Path, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = process
        self._admin_socket = admin_socket

    def command(self, line: str) -> str:
        """One command on the admin socket, e.g. `show stat`; its whole answer."""
        with socket.socket(socket.AF_UNIX) as admin:
            admin.settimeout(_SOCKET_TIMEOUT)
            admin.connect(str(self._admin_socket))
            admin.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := admin.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self, backend: str = BACKEND) -> dict[str, TargetStats]:
        """Each instance's state and counters in `backend`, by name."""
        text = self.command("show stat").removeprefix("# ")
        rows = csv.DictReader(line for line in text.splitlines() if line)
        return {
            row["svname"]: TargetStats(
                name=row["svname"],
                status=row["status"],
                requests=int(row["stot"] or 0),
                answers_2xx=int(row["hrsp_2xx"] or 0),
                answers_5xx=int(row["hrsp_5xx"] or 0),
                connection_errors=int(row["econ"] or 0),
                redispatched=int(row["wredis"] or 0),
            )
            for row in rows
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_for_status(self, name: str, status: str, within: float) -> float:
        """Seconds until the health checks give instance `name` this status."""
        started = time.monotonic()
        while self.stats()[name].status != status:
            if time.monotonic() - started > within:
                raise TimeoutError(f"{name} is not {status} after {within:.0f} s")
            time.sleep(0.05)
        return time.monotonic() - started


@contextmanager
def haproxy_in_front_of(
    targets: Sequence[Target], *, log: Path, check_interval_ms: int = 500, request_log: bool = False
) -> Iterator[Haproxy]:
    """haproxy balancing over `targets`, every one of them UP; stopped at the end.

    What it prints goes to `log`: warnings (an instance going DOWN or UP), and with
    `request_log` a line per request (client, instance, timings, status, termination state).
    """
    program = binary()
    if program is None:
        raise RuntimeError(unavailable_reason())
    root = Path(tempfile.mkdtemp(prefix="videolikes-haproxy-"))
    config = root / "haproxy.cfg"
    admin_socket = root / "admin.sock"
    port = free_port()
    config.write_text(
        config_text(
            port=port,
            targets=targets,
            admin_socket=admin_socket,
            check_interval_ms=check_interval_ms,
            request_log=request_log,
        )
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [program, "-db", "-f", str(config)], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        balancer = Haproxy(port, admin_socket, process)
        _wait_until_up(balancer, targets, log)
        yield balancer
    finally:
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_up(balancer: Haproxy, targets: Sequence[Target], log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if balancer.process.poll() is not None:
            raise RuntimeError(f"haproxy exited: {log.read_text(errors='replace')}")
        try:
            stats = balancer.stats()
        except OSError:
            stats = {}
        if stats and all(stats[target.name].status == "UP" for target in targets):
            return
        time.sleep(0.05)
    raise RuntimeError(f"haproxy's instances were not all UP within {_START_TIMEOUT:.0f} s")
