"""A local stand-in for Google's reCAPTCHA siteverify endpoint, for tests.

Use the ``fake_recaptcha`` fixture (``from fake_recaptcha import fake_recaptcha`` in a
conftest, or ``-p fake_recaptcha``). One real HTTP server on 127.0.0.1 serves the whole
session; its behaviour and its record of requests are reset before every test.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

DEFAULT_ANSWER: dict[str, Any] = {
    "success": True,
    "score": 0.9,
    "action": "like_video",
    "hostname": "localhost",
}

VERIFY_PATH = "/recaptcha/api/siteverify"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    form: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Load tests verify hundreds of tokens at once; a short backlog would drop connection
    # attempts, which the client retries only a second later.
    request_queue_size = 1024
    fake: FakeRecaptcha

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that gave up (timeouts under test) reset the connection; that is expected.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        fake._record(
            RecordedRequest(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                raw_body=body,
                form={k: v[0] for k, v in fields.items()},
            )
        )
        status, payload, delay, drip, release = fake._snapshot()
        if delay > 0 and release.wait(delay):
            return
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if drip is None:
                self.wfile.write(payload)
                return
            for i in range(len(payload)):
                self.wfile.write(payload[i : i + 1])
                self.wfile.flush()
                if release.wait(drip):
                    return
        except OSError:
            pass

    def do_GET(self) -> None:
        self.send_error(405)


class FakeRecaptcha:
    """Settable behaviour; assign attributes in a test, they are reset for the next one.

    - ``json_body``: any JSON value to answer with (default ``DEFAULT_ANSWER``)
    - ``status``: HTTP status (default 200)
    - ``raw_body``: bytes sent verbatim instead of ``json_body`` (for non-JSON answers)
    - ``delay``: seconds to wait before answering
    - ``drip_interval``: if set, send the body one byte at a time with this pause between
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._release = threading.Event()
        self.json_body: Any = copy.deepcopy(DEFAULT_ANSWER)
        self.status: int = 200
        self.raw_body: bytes | None = None
        self.delay: float = 0.0
        self.drip_interval: float | None = None

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-recaptcha",
            daemon=True,
        )
        self._thread.start()
        # Bound but never listening: connecting to it is refused, and holding it keeps
        # the port from being reused by something that would answer.
        self._refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._refusing.bind(("127.0.0.1", 0))

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{VERIFY_PATH}"

    @property
    def refused_url(self) -> str:
        port = self._refusing.getsockname()[1]
        return f"http://127.0.0.1:{port}{VERIFY_PATH}"

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last_form(self) -> dict[str, str]:
        requests = self.requests
        assert requests, "the fake reCAPTCHA server received no request"
        return requests[-1].form

    def answer(self, **fields: Any) -> None:
        """Answer with the default body updated by ``fields`` (e.g. ``answer(score=0.1)``)."""
        self.json_body = {**DEFAULT_ANSWER, **fields}

    def reset(self) -> None:
        with self._lock:
            # Wake any handler still delaying or dripping for a previous test.
            self._release.set()
            self._release = threading.Event()
            self._requests.clear()
        self.json_body = copy.deepcopy(DEFAULT_ANSWER)
        self.status = 200
        self.raw_body = None
        self.delay = 0.0
        self.drip_interval = None

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._refusing.close()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _snapshot(self) -> tuple[int, bytes, float, float | None, threading.Event]:
        with self._lock:
            release = self._release
        raw = self.raw_body
        payload = raw if raw is not None else json.dumps(self.json_body).encode()
        return self.status, payload, self.delay, self.drip_interval, release


_instance: FakeRecaptcha | None = None
_instance_lock = threading.Lock()


def _shared_server(config: pytest.Config) -> FakeRecaptcha:
    # Started lazily and torn down with the session's config, so importing only the
    # `fake_recaptcha` fixture into a conftest is enough.
    global _instance
    with _instance_lock:
        if _instance is None:
            instance = FakeRecaptcha()

            def _close() -> None:
                global _instance
                instance.close()
                _instance = None

            config.add_cleanup(_close)
            _instance = instance
        return _instance


@pytest.fixture
def fake_recaptcha(request: pytest.FixtureRequest) -> Iterator[FakeRecaptcha]:
    fake = _shared_server(request.config)
    fake.reset()
    yield fake
    fake.reset()
