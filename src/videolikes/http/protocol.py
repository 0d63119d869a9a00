"""uvicorn's httptools protocol with bounded request heads.

httptools (unlike h11) accepts request lines and headers of any size and number, so a client
could make a worker buffer megabytes before the app sees anything. This protocol counts the
head while it is parsed and answers 431 once it passes the bounds below.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from videolikes.wire import error_body

__all__ = ["MAX_HEADER_BYTES", "MAX_HEADER_FIELDS", "BoundedHttpToolsProtocol"]

# As h11's and Node's defaults: far above a browser request (a reCAPTCHA token is ~2 KB).
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADER_FIELDS = 100

_TOO_LARGE_BODY = error_body("Request headers too large")
_TOO_LARGE = b"".join(
    [
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(_TOO_LARGE_BODY)).encode("ascii") + b"\r\n",
        b"x-content-type-options: nosniff\r\n",
        b"connection: close\r\n",
        b"\r\n",
        _TOO_LARGE_BODY,
    ]
)


_BAD_REQUEST_BODY = error_body("Invalid HTTP request")
# What the parser refuses (a malformed request line, an invalid header, a broken chunked body)
# is answered in JSON, as every other error is.
_BAD_REQUEST = b"".join(
    [
        b"HTTP/1.1 400 Bad Request\r\n",
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(_BAD_REQUEST_BODY)).encode("ascii") + b"\r\n",
        b"x-content-type-options: nosniff\r\n",
        b"connection: close\r\n",
        b"\r\n",
        _BAD_REQUEST_BODY,
    ]
)


class _HeadTooLarge(Exception):
    pass


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _in_head = False
    _head_bytes = 0
    _head_fields = 0
    # Bytes fed while the head was incomplete and no piece of it completed: what httptools may
    # be buffering for a single endless header line.
    _stalled_bytes = 0
    _progressed = False
    _too_large = False

    def data_received(self, data: bytes) -> None:
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
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # Raising from a parser callback is the only way to stop httptools; it surfaces here.
        if self._too_large:
            self._reject()
        elif not self.transport.is_closing():
            self.transport.write(_BAD_REQUEST)
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
        if not self.transport.is_closing():
            self.transport.write(_TOO_LARGE)
            self.transport.close()
