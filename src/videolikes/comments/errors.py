"""What a comment request can be refused for, with the original's messages."""

from __future__ import annotations

from videolikes.errors import AppError, BadRequest


class CommentNotFound(AppError):
    status_code = 404
    message = "Comment not found"


class TooManyComments(AppError):
    status_code = 429
    message = "You have left too many comments already"


class ContentRequired(BadRequest):
    message = "Content is required"


class ContentTooLong(BadRequest):
    message = "Comment must be 300 characters or less"


class InvalidParent(BadRequest):
    message = "Invalid parentId: it must be a top-level comment of this video"
