"""Process logging: one stderr handler, plain text or JSON lines, every line with its request id."""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, Literal

import orjson

from videolikes.db.errors import involves_database, safe_traceback

# Set by the request middleware for the duration of one request; "-" outside requests.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")

_HANDLER_NAME = "videolikes"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class _UtcTimestamps:
    """ISO-8601 UTC times; strftime runs once a second, not once a line."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"


class RequestIdFilter(logging.Filter):
    """Stamps the current request id on every record, whichever logger made it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


class _SafeTracebacks(logging.Formatter):
    """A database error's traceback leaves out every message that may quote a statement's
    values (videolikes.db.errors); any other is Python's own."""

    def formatException(self, ei: Any) -> str:
        error = ei[1]
        if isinstance(error, BaseException) and involves_database(error):
            return safe_traceback(error).rstrip("\n")
        return super().formatException(ei)


class TextFormatter(_SafeTracebacks):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._timestamp = _UtcTimestamps()

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._timestamp(record.created)


class JsonFormatter(_SafeTracebacks):
    """One JSON object per line; a record's `extra={"fields": {...}}` become top-level keys."""

    def __init__(self) -> None:
        super().__init__()
        self._timestamp = _UtcTimestamps()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self._timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: str, log_format: Literal["text", "json"]) -> None:
    """Install (or replace) this service's handler on the root logger.

    Replacing rather than clearing keeps handlers others installed (a test runner's capture,
    for one), and calling it again with other settings is harmless.
    """
    # No format here uses the caller, thread or process of a record; not collecting them
    # saves about a third of the cost of each request's log line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiosqlite logs every call it runs, with the statement's values, at DEBUG.
    logging.getLogger("aiosqlite").setLevel(max(root.level, logging.INFO))
