"""What adopting a database of the original service would change, or why it cannot.

Every table, column and constraint videolikes relies on is compared with what it needs; each
mismatch is a problem, each name that differs a rename (videolikes.ops.adopt carries them out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    SmallInteger,
    String,
    Text,
    Uuid,
)
from sqlalchemy.engine import Inspector
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class _Column:
    name: str
    kind: type[TypeEngine[Any]]
    nullable: bool
    length: int | None = None
    needs_default: bool = False  # videolikes inserts rows without this column


@dataclass(frozen=True)
class _Unique:
    table: str
    columns: tuple[str, ...]
    name: str
    must_be_constraint: bool = False  # named in ON CONFLICT ON CONSTRAINT


@dataclass(frozen=True)
class _ForeignKey:
    table: str
    column: str
    referred_table: str
    name: str


_TABLES: dict[str, tuple[_Column, ...]] = {
    "videos": (
        _Column("id", String, nullable=False, length=50),
        _Column("title", String, nullable=True, length=255),
        _Column("filename", String, nullable=False, length=255),
        _Column("length", Integer, nullable=False),
        _Column("has_thumbnail", Boolean, nullable=False),
        _Column("views", Integer, nullable=False),
        _Column("likes", Integer, nullable=False, needs_default=True),
        _Column("is_shorts", Boolean, nullable=False),
        _Column("playlist", String, nullable=True, length=100),
    ),
    "users": (
        _Column("id", Uuid, nullable=False),
        _Column("ip_hash", String, nullable=False, length=64),
        _Column("username", String, nullable=False, length=50),
        _Column("created_at", DateTime, nullable=False, needs_default=True),
    ),
    "video_likes": (
        _Column("id", Uuid, nullable=False),
        _Column("video_id", String, nullable=False, length=50),
        _Column("user_id", Uuid, nullable=False),
        _Column("is_like", Boolean, nullable=False),
        _Column("created_at", DateTime, nullable=False, needs_default=True),
    ),
}
# The original's later tables: a database made before it had comments lacks them, and
# migration 0004 creates them; where they are, they must be what the comment code writes.
_COMMENT_TABLES: dict[str, tuple[_Column, ...]] = {
    "comments": (
        _Column("id", Uuid, nullable=False),
        _Column("video_id", String, nullable=False, length=50),
        _Column("user_id", Uuid, nullable=False),
        _Column("parent_id", Uuid, nullable=True),
        _Column("content", Text, nullable=False),
        _Column("created_at", DateTime, nullable=False, needs_default=True),
    ),
    "comment_likes": (
        _Column("id", Uuid, nullable=False),
        _Column("comment_id", Uuid, nullable=False),
        _Column("user_id", Uuid, nullable=False),
        _Column("is_like", Boolean, nullable=False),
        _Column("created_at", DateTime, nullable=False, needs_default=True),
    ),
}
_PRIMARY_KEYS = {
    "videos": "videos_pkey",
    "users": "users_pkey",
    "video_likes": "video_likes_pkey",
    "comments": "comments_pkey",
    "comment_likes": "comment_likes_pkey",
}
_UNIQUES = (
    _Unique("videos", ("filename",), "videos_filename_unique"),
    _Unique("users", ("ip_hash",), "users_ip_hash_unique"),
    _Unique("video_likes", ("video_id", "user_id"), "video_user_unique", must_be_constraint=True),
    # ON CONFLICT names its columns: the original's unique index serves as it is.
    _Unique("comment_likes", ("comment_id", "user_id"), "comment_user_unique"),
)
_FOREIGN_KEYS = (
    _ForeignKey("video_likes", "video_id", "videos", "video_likes_video_id_videos_id_fk"),
    _ForeignKey("video_likes", "user_id", "users", "video_likes_user_id_users_id_fk"),
    _ForeignKey("comments", "video_id", "videos", "comments_video_id_videos_id_fk"),
    _ForeignKey("comments", "user_id", "users", "comments_user_id_users_id_fk"),
    _ForeignKey(
        "comment_likes", "comment_id", "comments", "comment_likes_comment_id_comments_id_fk"
    ),
    _ForeignKey("comment_likes", "user_id", "users", "comment_likes_user_id_users_id_fk"),
)
_VIEWS_INDEX = "videos_views_idx"


@dataclass
class Adoption:
    problems: list[str] = field(default_factory=list)
    renames: list[str] = field(default_factory=list)
    current_revision: str | None = None
    identities: int = 0


def _constraint_from_index(table: str, index: str, name: str) -> tuple[str, str]:
    statement = f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{index}"'
    return statement, f"{table}: turn unique index {index} into constraint {name}"


def _rename(kind: str, table: str, old: str, new: str) -> tuple[str, str]:
    """(statement, description) for giving a constraint or index videolikes' name."""
    quote = '"{}"'.format
    if kind == "index":
        statement = f"ALTER INDEX {quote(old)} RENAME TO {quote(new)}"
    else:
        statement = f"ALTER TABLE {quote(table)} RENAME CONSTRAINT {quote(old)} TO {quote(new)}"
    return statement, f"{table}: rename {kind} {old} to {new}"


def _check_columns(
    inspector: Inspector, table: str, needs: tuple[_Column, ...], adoption: Adoption
) -> None:
    found = {column["name"]: column for column in inspector.get_columns(table)}
    for need in needs:
        column = found.get(need.name)
        where = f"{table}.{need.name}"
        if column is None:
            adoption.problems.append(f"{where}: missing")
            continue
        column_type = column["type"]
        if not isinstance(column_type, need.kind) or isinstance(column_type, SmallInteger):
            adoption.problems.append(
                f"{where}: type {column_type}, videolikes needs {need.kind.__name__.lower()}"
            )
        elif need.length is not None:
            length = getattr(column_type, "length", None)
            if length is not None and length < need.length:
                adoption.problems.append(
                    f"{where}: holds {length} characters, videolikes needs {need.length}"
                )
        if column["nullable"] != need.nullable:
            wanted = "NULL" if need.nullable else "NOT NULL"
            adoption.problems.append(f"{where}: videolikes needs it {wanted}")
        if need.needs_default and column.get("default") is None:
            adoption.problems.append(f"{where}: has no default, videolikes inserts without it")
    needed = {need.name for need in needs}
    for name, column in found.items():
        if name not in needed and not column["nullable"] and column.get("default") is None:
            adoption.problems.append(
                f"{table}.{name}: an extra NOT NULL column without a default would make "
                "videolikes' inserts fail"
            )


def plan(inspector: Inspector, adoption: Adoption) -> list[str]:
    """Fill in problems and planned renames; returns the rename statements."""
    statements: list[str] = []
    present = set(inspector.get_table_names())

    def rename(kind: str, table: str, old: str | None, new: str) -> None:
        if old and old != new:
            statement, description = _rename(kind, table, old, new)
            statements.append(statement)
            adoption.renames.append(description)

    comment_tables = {table: needs for table, needs in _COMMENT_TABLES.items() if table in present}
    for table, needs in {**_TABLES, **comment_tables}.items():
        if table not in present:
            adoption.problems.append(f"{table}: table missing")
            continue
        _check_columns(inspector, table, needs, adoption)
        primary = inspector.get_pk_constraint(table)
        if primary.get("constrained_columns") != ["id"]:
            adoption.problems.append(f"{table}: primary key must be (id)")
        else:
            rename("constraint", table, primary.get("name"), _PRIMARY_KEYS[table])

    for unique in _UNIQUES:
        if unique.table not in present:
            continue
        constraints = [
            c["name"]
            for c in inspector.get_unique_constraints(unique.table)
            if tuple(c["column_names"]) == unique.columns
        ]
        indexes = [
            i["name"]
            for i in inspector.get_indexes(unique.table)
            if i["unique"] and tuple(i["column_names"]) == unique.columns
        ]
        columns = ", ".join(unique.columns)
        if constraints:
            if unique.name not in constraints:
                rename("constraint", unique.table, constraints[0], unique.name)
        elif indexes and unique.must_be_constraint:
            # What the original's tooling makes: the same uniqueness, as an index; it becomes
            # the constraint without a rebuild (and takes the constraint's name).
            index = unique.name if unique.name in indexes else str(indexes[0])
            statement, description = _constraint_from_index(unique.table, index, unique.name)
            statements.append(statement)
            adoption.renames.append(description)
        elif indexes:
            if unique.name not in indexes:
                rename("index", unique.table, indexes[0], unique.name)
        else:
            adoption.problems.append(
                f"{unique.table}: no unique constraint or index on ({columns})"
            )

    for need in _FOREIGN_KEYS:
        if need.table in present:
            foreign_keys = inspector.get_foreign_keys(need.table)
            matching = [
                fk
                for fk in foreign_keys
                if fk["constrained_columns"] == [need.column]
                and fk["referred_table"] == need.referred_table
                and fk["referred_columns"] == ["id"]
            ]
            target = f"{need.table}.{need.column} -> {need.referred_table}.id"
            if not matching:
                adoption.problems.append(f"{target}: foreign key missing")
            elif (matching[0].get("options", {}).get("ondelete") or "").upper() != "CASCADE":
                adoption.problems.append(f"{target}: foreign key must be ON DELETE CASCADE")
            else:
                rename("constraint", need.table, matching[0]["name"], need.name)

    if "videos" in present:
        views = [
            i["name"] for i in inspector.get_indexes("videos") if i["column_names"] == ["views"]
        ]
        if not views:
            adoption.problems.append(
                f"videos: no index on (views); create it first: CREATE INDEX {_VIEWS_INDEX} "
                "ON videos (views)"
            )
        elif _VIEWS_INDEX not in views:
            rename("index", "videos", views[0], _VIEWS_INDEX)
    return statements
