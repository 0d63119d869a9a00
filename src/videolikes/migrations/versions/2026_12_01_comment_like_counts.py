"""Index each comment's likes, so that counting them on read reads the index alone.

The original keeps no like counter for comments; a comment's likes are counted whenever its
video's comments are read. comment_user_unique serves that lookup too, but each entry then
needs its table row for `is_like`; this partial index holds only the likes, and PostgreSQL
counts them with an index-only scan.

Revision ID: 0005_comment_like_counts
Revises: 0004_comments
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_comment_like_counts"
down_revision: str | None = "0004_comments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Built concurrently, outside the migration's transaction, as 0002: an adopted database
    # keeps taking comment likes while it builds.
    with op.get_context().autocommit_block():
        op.create_index(
            "comment_likes_liked_idx",
            "comment_likes",
            ["comment_id"],
            postgresql_where=sa.text("is_like"),
            sqlite_where=sa.text("is_like"),
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index("comment_likes_liked_idx", table_name="comment_likes")
