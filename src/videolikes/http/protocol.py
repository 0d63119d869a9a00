"""uvicorn's httptools protocol with bounded request heads, in size and in time.

httptools (unlike h11) accepts request lines and headers of any size and number, so a client
could make a worker buffer megabytes before the app sees anything; and uvicorn sets no deadline
for a head, so clients that send half of one and wait hold a file descriptor each until the
worker cannot accept anyone else. This protocol counts the head while it is parsed and answers
431 once it passes the bounds below; answers 408 to a head not complete within HEADER_TIMEOUT;
and keeps within MAX_CONNECTIONS as its ConnectionGuard says.

Subclassing HttpToolsProtocol and hooking its parser callbacks (on_url, on_header, ...) is how
uvicorn lets a server bound heads: it has no setting for either bound, and its h11 protocol,
which bounds the size, costs more CPU per request than httptools (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from videolikes.http.connection_guard import GuardedServerState
from videolikes.wire import error_body

__all__ = ["MAX_HEADER_BYTES", "MAX_HEADER_FIELDS", "BoundedHttpToolsProtocol", "ServeConfig"]

# As h11's and Node's defaults: far above a browser request (a reCAPTCHA token is ~2 KB).
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_FIELDS = 100


def _closing_answer(status_line: bytes, message: str) -> bytes:
    body = error_body(message)
    return b"".join(
        [
            status_line,
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"x-content-type-options: nosniff\r\n",
            b"connection: close\r\n",
            b"\r\n",
            body,
        ]
    )


_TOO_LARGE = _closing_answer(
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n", "Request headers too large"
)
_TIMEOUT = _closing_answer(b"HTTP/1.1 408 Request Timeout\r\n", "Request timeout")
_UNAVAILABLE = _closing_answer(b"HTTP/1.1 503 Service Unavailable\r\n", "Service unavailable")


class ServeConfig(uvicorn.Config):
    """uvicorn's configuration, with the bounds BoundedHttpToolsProtocol keeps."""

    def __init__(
        self, app: str, *, header_timeout: float, max_connections: int, **options: Any
    ) -> None:
        super().__init__(app, **options)
        self.header_timeout = header_timeout
        self.max_connections = max_connections


# What the parser refuses (a malformed request line, an invalid header, a broken chunked body)
# is answered in JSON, as every other error is.
_BAD_REQUEST = _closing_answer(b"HTTP/1.1 400 Bad Request\r\n", "Invalid HTTP request")


class _HeadTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _in_head = False
    _in_body = False
    _head_bytes = 0
    _head_fields = 0
    # Bytes fed while the head was incomplete and no piece of it completed: what httptools may
    # be buffering for a single endless header line.
    _stalled_bytes = 0
    _progressed = False
    _too_large = False
    # Asked to stop before this connection's request had come in full: answer it, then close.
    _stopping = False
    _head_timer: asyncio.TimerHandle | None = None

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(server_state, GuardedServerState)
        self._guard = server_state.guard

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self._guard.admit(self):
            self._close_with(_UNAVAILABLE)
            return
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        self._guard.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and not self._in_body:
            # The first bytes of a head (or anything else between requests) start its clock.
            self._start_head_timer()
        self._progressed = False
        super().data_received(data)
        if self._in_head and not self._too_large and not self._progressed:
            self._stalled_bytes += len(data)
            if self._head_bytes + self._stalled_bytes > MAX_HEADER_BYTES:
                self._reject()

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_bytes = self._head_fields = self._stalled_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._count(len(url), fields=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, fields=1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._in_body = True
        self._cancel_head_timer()
        self._guard.stops_waiting(self)
        super().on_headers_complete()
        if self._stopping and self.cycle is not None:
            self.cycle.keep_alive = False

    def on_message_complete(self) -> None:
        self._in_body = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete:
            self._guard.waits(self)

    def shutdown(self) -> None:
        if self.cycle is None or self._in_head:
            # Its request may be on its way, or half here: answer it, then close; the head
            # timer bounds the wait.
            self._stopping = True
        else:
            super().shutdown()

    def push_out(self) -> None:
        self._cancel_head_timer()
        self._close_unanswered()

    def send_400_response(self, msg: str) -> None:
        # Raising from a parser callback is the only way to stop httptools; it surfaces here.
        if self._too_large:
            self._reject()
        else:
            self._close_with(_BAD_REQUEST)

    def _start_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self._guard.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self._guard.timed_out()
        self._close_unanswered()

    def _close_unanswered(self) -> None:
        # A head under way is told why; a connection that sent nothing is closed as an idle one.
        # With a response still going out, a 408 would land in its middle.
        answer = self._in_head and (self.cycle is None or self.cycle.response_complete)
        if answer:
            self._close_with(_TIMEOUT)
        elif not self.transport.is_closing():
            self.transport.close()

    def _count(self, size: int, *, fields: int) -> None:
        self._progressed = True
        self._stalled_bytes = 0
        self._head_bytes += size
        self._head_fields += fields
        if self._head_bytes > MAX_HEADER_BYTES or self._head_fields > MAX_HEADER_FIELDS:
            self._too_large = True
            raise _HeadTooLarge

    def _reject(self) -> None:
        self._too_large = True
        self._close_with(_TOO_LARGE)

    def _close_with(self, answer: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()
