"""The original service's comments and comment_likes, exactly as it made them.

A database adopted from the original already has both tables (adoption checks them and
records revision 0001): they are left as they are. Going down drops them only while they
hold no comment, since on an adopted database they are the original's.

Revision ID: 0004_comments
Revises: 0003_write_likes_function
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_comments"
down_revision: str | None = "0003_write_likes_function"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _uuid_default() -> sa.TextClause | None:
    # As in 0001: the original database generates ids itself; SQLite has no such function.
    return sa.text("gen_random_uuid()") if op.get_bind().dialect.name == "postgresql" else None


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "comments" not in present:
        op.create_table(
            "comments",
            sa.Column("id", sa.Uuid(), server_default=_uuid_default(), nullable=False),
            sa.Column("video_id", sa.String(50), nullable=False),
            sa.Column("user_id", sa.Uuid(), nullable=False),
            sa.Column("parent_id", sa.Uuid(), nullable=True),
            sa.Column("content", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="comments_pkey"),
            sa.ForeignKeyConstraint(
                ["user_id"], ["users.id"], name="comments_user_id_users_id_fk", ondelete="CASCADE"
            ),
            sa.ForeignKeyConstraint(
                ["video_id"],
                ["videos.id"],
                name="comments_video_id_videos_id_fk",
                ondelete="CASCADE",
            ),
        )
        op.create_index(
            "comments_video_parent_created", "comments", ["video_id", "parent_id", "created_at"]
        )
        op.create_index(
            "comments_video_user_created", "comments", ["video_id", "user_id", "created_at"]
        )
    if "comment_likes" not in present:
        op.create_table(
            "comment_likes",
            sa.Column("id", sa.Uuid(), server_default=_uuid_default(), nullable=False),
            sa.Column("comment_id", sa.Uuid(), nullable=False),
            sa.Column("user_id", sa.Uuid(), nullable=False),
            sa.Column("is_like", sa.Boolean(), nullable=False),
            sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
            sa.PrimaryKeyConstraint("id", name="comment_likes_pkey"),
            sa.ForeignKeyConstraint(
                ["comment_id"],
                ["comments.id"],
                name="comment_likes_comment_id_comments_id_fk",
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["user_id"],
                ["users.id"],
                name="comment_likes_user_id_users_id_fk",
                ondelete="CASCADE",
            ),
        )
        op.create_index(
            "comment_user_unique", "comment_likes", ["comment_id", "user_id"], unique=True
        )


def downgrade() -> None:
    if op.get_bind().execute(sa.text("SELECT EXISTS (SELECT 1 FROM comments)")).scalar():
        raise RuntimeError(
            "comments holds rows (on an adopted database, the original's): "
            "not dropping it; remove them first if they are to go"
        )
    op.drop_table("comment_likes")
    op.drop_table("comments")
