"""The original service's schema: videos, users, video_likes.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _uuid_default() -> sa.TextClause | None:
    # The original database generates ids itself; SQLite has no such function.
    return sa.text("gen_random_uuid()") if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.String(50), nullable=False),
        sa.Column("title", sa.String(255), nullable=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("has_thumbnail", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("views", sa.Integer(), server_default="0", nullable=False),
        sa.Column("likes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("is_shorts", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("playlist", sa.String(100), nullable=True),
        sa.PrimaryKeyConstraint("id", name="videos_pkey"),
        sa.UniqueConstraint("filename", name="videos_filename_unique"),
    )
    op.create_index("videos_views_idx", "videos", ["views"])
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), server_default=_uuid_default(), nullable=False),
        sa.Column("ip_hash", sa.String(64), nullable=False),
        sa.Column("username", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="users_pkey"),
        sa.UniqueConstraint("ip_hash", name="users_ip_hash_unique"),
    )
    op.create_table(
        "video_likes",
        sa.Column("id", sa.Uuid(), server_default=_uuid_default(), nullable=False),
        sa.Column("video_id", sa.String(50), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("is_like", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="video_likes_pkey"),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name="video_likes_video_id_videos_id_fk",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="video_likes_user_id_users_id_fk", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("video_id", "user_id", name="video_user_unique"),
    )


def downgrade() -> None:
    op.drop_table("video_likes")
    op.drop_table("users")
    op.drop_index("videos_views_idx", table_name="videos")
    op.drop_table("videos")
