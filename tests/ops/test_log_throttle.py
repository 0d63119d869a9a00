from __future__ import annotations

import logging

import pytest

from videolikes.ops.log_throttle import ThrottledLog


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_repeated_line_is_logged_once_per_interval_then_says_how_many_were_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    log = ThrottledLog(logging.getLogger("videolikes.test"), interval=10, clock=clock)
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            log.error("database unavailable: connection refused")
            clock.now += 1
        log.warning("not ready: database timeout")
        clock.now += 10
        log.error("database unavailable: connection refused")
        clock.now += 10
        log.error("database unavailable: connection refused")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("ERROR", "database unavailable: connection refused"),
        ("WARNING", "not ready: database timeout"),
        ("ERROR", "database unavailable: connection refused (and 4 more in the 15 s before)"),
        ("ERROR", "database unavailable: connection refused"),
    ]
