"""The hot paths' statements as asyncpg takes them, compiled once by SQLAlchemy's asyncpg dialect.

Their parameters are written `CAST(:name AS type[])`: SQLAlchemy's text() reads no bind
parameter in the shorter `:name::type[]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.engine import make_url

_DIALECT = make_url("postgresql+asyncpg://").get_dialect()()


@dataclass(frozen=True, slots=True)
class Numbered:
    """A text() statement with its `:name` parameters numbered `$n`, in order of first use."""

    sql: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, statement: TextClause) -> Numbered:
        compiled = statement.compile(dialect=_DIALECT)
        return cls(compiled.string, tuple(compiled.positiontup or ()))

    def args(self, **values: Any) -> list[Any]:
        return [values[name] for name in self.names]
