"""The hot paths' statements as asyncpg takes them: `:name` parameters numbered `$n`.

Kept rather than SQLAlchemy's own compilation: its text() finds no bind parameter in
`:video_ids::text[]` (a name directly followed by a `::` cast, as every array parameter here
is), so the asyncpg dialect would send these statements with no parameters at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause


@dataclass(frozen=True, slots=True)
class Numbered:
    """A text() statement as asyncpg takes it: each `:name` becomes `$n`, in order of first use."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, statement: TextClause) -> Numbered:
        names: dict[str, int] = {}

        def number(match: re.Match[str]) -> str:
            return f"${names.setdefault(match.group(1), len(names) + 1)}"

        sql = re.sub(r"(?<![:\w]):(\w+)", number, statement.text)
        return cls(sql, tuple(names))

    def args(self, **values: Any) -> list[Any]:
        return [values[name] for name in self.names]
