"""The listening sockets of `serve`: bound before any worker starts, closed without losing one.

Binding: the first socket is bound without SO_REUSEPORT, so an address that anyone else holds
(another `serve`, or any process, with SO_REUSEPORT or not) fails here, before a worker starts;
SO_REUSEPORT is set on it only then, for the other workers' sockets to join it. A later `serve`
fails the same way, its own first bind being exclusive too. (Clearing SO_REUSEPORT on the bound
sockets does not keep a process of the same user that sets it from joining: tried on Linux 6.18.)

Stopping: closing a listening socket resets every connection still in its accept queue, and their
clients may well have sent a request already. So a socket filter first drops new SYNs (such a
client retries its SYN and is refused once the socket is closed, having sent nothing), the
handshakes under way complete, the server accepts what is queued, and only then does it close.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import socket
import struct
from collections.abc import Sequence

__all__ = [
    "ListenError",
    "address",
    "connection_ceiling",
    "drain",
    "listening_sockets",
    "raise_open_file_limit",
    "refuse_new_handshakes",
]

BACKLOG = 2048  # uvicorn's default
_SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>; Python's socket module does not name it
# Classic BPF, run on each segment with the data at its TCP header: drop a SYN without ACK (a
# new handshake), keep everything else (the ACKs completing handshakes, requests).
_DROP_NEW_HANDSHAKES = (
    (0x30, 0, 0, 13),  # ldb [13]         the flags byte
    (0x54, 0, 0, 0x12),  # and #0x12      SYN | ACK
    (0x15, 0, 1, 0x02),  # jeq #0x02      only SYN?
    (0x06, 0, 0, 0),  # ret #0            drop
    (0x06, 0, 0, 0xFFFFFFFF),  # ret #-1  keep
)
_TCP_INFO_SIZE = 104
_TCP_INFO_QUEUED = 24  # tcpi_unacked: for a listening socket, the accept queue's length
# A client's ACK of our SYN-ACK takes one round trip to arrive; half a second covers the far end
# of a continent and the connection is then queued.
_HANDSHAKE_GRACE_SECONDS = 0.5
_DRAIN_TIMEOUT_SECONDS = 5.0
# Open files a worker needs besides its client connections: database and Redis pools, the
# reCAPTCHA client's connections, the event loop, logs.
_RESERVED_FILES = 256


class ListenError(Exception):
    """The address cannot be listened on; the message is the one line to show."""


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` sockets listening on host:port, one per worker; ListenError when that is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for index in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if index:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            if index == 0:
                port = sock.getsockname()[1]
                if count > 1:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.listen(BACKLOG)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ListenError(f"cannot listen on {address(host, port)}: {_reason(exc)}") from exc
    return sockets


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(exc: OSError) -> str:
    if isinstance(exc, socket.gaierror) or exc.errno is None:
        return str(exc.strerror or exc).lower()
    return os.strerror(exc.errno).lower()


def refuse_new_handshakes(sock: socket.socket) -> None:
    """Drop SYNs arriving at `sock` from now on; connections under way and queued are kept."""
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in _DROP_NEW_HANDSHAKES)
    program = ctypes.create_string_buffer(code)
    # struct sock_fprog: the number of instructions and a pointer to them; the kernel copies them.
    fprog = struct.pack("HL", len(_DROP_NEW_HANDSHAKES), ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, fprog)


def accept_queue_length(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    queued: int = struct.unpack_from("I", info, _TCP_INFO_QUEUED)[0]
    return queued


async def drain(sockets: Sequence[socket.socket]) -> None:
    """Refuse new handshakes on `sockets`, then wait while the event loop accepts the queue."""
    for sock in sockets:
        refuse_new_handshakes(sock)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _DRAIN_TIMEOUT_SECONDS
    await asyncio.sleep(_HANDSHAKE_GRACE_SECONDS)
    # The kernel tells of no emptied queue: look again and again.
    while loop.time() < deadline and any(accept_queue_length(sock) for sock in sockets):  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def raise_open_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; return the soft one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError):  # a hard limit above the kernel's nr_open
        return soft
    return hard


def connection_ceiling(open_file_limit: int) -> int:
    """The most client connections a worker can hold under `open_file_limit` open files."""
    if open_file_limit == resource.RLIM_INFINITY:
        return 1 << 30
    return max(open_file_limit - _RESERVED_FILES, open_file_limit // 2)
