"""What one like write did, and what one status read found."""

from __future__ import annotations

from dataclasses import dataclass

from videolikes.likes.folding import Rating


@dataclass(frozen=True, slots=True)
class LikeChange:
    """What one like write did; `video_found` False means nothing was touched."""

    video_found: bool
    rating: Rating
    changed: bool


@dataclass(frozen=True, slots=True)
class RatingRead:
    """A client's rating of a video; `video_found` False: no such video."""

    video_found: bool
    rating: Rating
