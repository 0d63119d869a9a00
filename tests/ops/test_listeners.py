"""The listening sockets of `serve`, over real sockets on the loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from videolikes.ops.listeners import (
    ListenError,
    accept_queue_length,
    connection_ceiling,
    listening_sockets,
    refuse_new_handshakes,
)


@pytest.fixture
def two_listening() -> Iterator[list[socket.socket]]:
    sockets = listening_sockets("127.0.0.1", 0, 2)
    try:
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def test_the_sockets_of_one_serve_share_a_port_that_nobody_else_gets(
    two_listening: list[socket.socket],
) -> None:
    port = two_listening[0].getsockname()[1]
    assert two_listening[1].getsockname()[1] == port
    for count in (1, 2):
        with pytest.raises(ListenError) as refused:
            listening_sockets("127.0.0.1", port, count)
        assert str(refused.value) == f"cannot listen on 127.0.0.1:{port}: address already in use"


def test_a_socket_that_refuses_new_handshakes_keeps_the_connections_queued_on_it() -> None:
    [listener] = listening_sockets("127.0.0.1", 0, 1)
    address = listener.getsockname()
    with listener, socket.create_connection(address, timeout=5) as queued:
        queued.sendall(b"a request")
        refuse_new_handshakes(listener)
        with socket.socket() as late:
            late.settimeout(0.5)
            # Its SYN goes unanswered (it would retry in a second), so it sends nothing.
            with pytest.raises(TimeoutError):
                late.connect(address)
        assert accept_queue_length(listener) == 1
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.recv(100) == b"a request"
        assert accept_queue_length(listener) == 0


@pytest.mark.parametrize(("files", "connections"), [(256, 128), (1024, 768), (65536, 65280)])
def test_connections_leave_files_for_pools_and_logs(files: int, connections: int) -> None:
    assert connection_ceiling(files) == connections
