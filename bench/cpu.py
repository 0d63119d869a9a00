"""CPU time spent by the server and by its PostgreSQL backends, read from /proc (Linux).

On a shared, busy machine requests per second swing with the neighbours' load; the CPU time
each request costs does not, so it is the steadier figure for comparing two versions.
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields after it are plain.
    return raw[raw.rindex(")") + 2 :].split()


def _cpu_seconds(fields: list[str]) -> float:
    # utime and stime are the 14th and 15th fields of stat, the 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def process_group_cpu(group: int) -> float:
    """CPU seconds of every live process in a process group (the server and its workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and int(fields[2]) == group:
            total += _cpu_seconds(fields)
    return total


def processes_cpu(pids: list[int]) -> dict[int, float]:
    seconds = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            seconds[pid] = _cpu_seconds(fields)
    return seconds
