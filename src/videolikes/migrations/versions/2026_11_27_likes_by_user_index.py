"""Index a client's likes newest first, for GET /api/me/likes pages.

The unique (video_id, user_id) index cannot serve a lookup by user; this one answers a page
of one client's likes with an index range scan, whatever page it is.

Revision ID: 0002_likes_by_user
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_likes_by_user"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Built concurrently, outside the migration's transaction, so that adopting a busy
    # database does not block like writes for as long as the build takes.
    with op.get_context().autocommit_block():
        op.create_index(
            "video_likes_user_id_idx",
            "video_likes",
            ["user_id", "created_at", "id"],
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index("video_likes_user_id_idx", table_name="video_likes")
