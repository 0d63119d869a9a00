"""How a failure is told: the cases no real fault here can cause (root reads every file)."""

from __future__ import annotations

import errno

import pytest

from videolikes.ops.failures import CommandFailed, explain, showing_tracebacks


def test_a_file_the_command_cannot_read_is_named_with_the_reason_and_exit_2() -> None:
    failure = explain(PermissionError(errno.EACCES, "Permission denied", "/srv/videos.csv"))
    assert failure.lines == ("/srv/videos.csv: Permission denied",)
    assert failure.status == 2


def test_an_unexpected_error_is_its_type_and_first_line_with_the_way_to_see_more() -> None:
    failure = explain(RuntimeError("it broke\n[parameters: ('private value',)]"))
    assert failure.lines[0] == "unexpected error: RuntimeError: it broke"
    assert "--debug" in failure.lines[1]
    assert "private value" not in "\n".join(failure.lines)
    assert failure.status == 1


def test_an_expected_failure_is_told_as_it_is() -> None:
    failure = CommandFailed("first problem", "second problem", status=3)
    assert explain(failure) is failure


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("LOG_LEVEL", "debug", True),
        ("log_level", "DEBUG", True),
        ("LOG_LEVEL", "info", False),
    ],
)
def test_tracebacks_are_shown_at_log_level_debug_however_it_is_spelt(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, shown: bool
) -> None:
    for variable in ("LOG_LEVEL", "log_level"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(name, value)
    assert showing_tracebacks() is shown
