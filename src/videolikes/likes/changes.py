"""What one like write did."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LikeChange:
    """What one like write did; `video_found` False means nothing was touched."""

    video_found: bool
    liked: bool
    changed: bool
