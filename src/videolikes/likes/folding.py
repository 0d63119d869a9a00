"""Like operations as maps of a client's rating, so that several writes fold into one.

A client rates a video (or a comment) one of three ways: liked, disliked, or neither. Each
operation maps the rating before it to the rating after it: a toggle flips a like, a like
sets it, an unlike clears it, and the dislike operations do the same for a dislike. Any run of
them composes into one map, so a batch can write the run of one client on one video once, and
still give every write in the run the answer it would have had alone, in order, from the
rating the batch found.

With dislikes off, a dislike row (left from a time they were on) is left as it is by every
operation: the like operations only ever see "liked" or "neither". With them on, a like
replaces a dislike and a dislike a like, as YouTube's rating does; an unlike leaves a dislike
alone and an undislike a like, since either leaves the client not liking (or not disliking).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

# True: liked; False: disliked; None: neither. What video_likes.is_like holds for the row (no
# row: None), and what `userLike` says on the wire.
Rating = bool | None


class LikeOp(StrEnum):
    TOGGLE = "toggle"
    LIKE = "like"
    UNLIKE = "unlike"
    TOGGLE_DISLIKE = "toggle_dislike"
    DISLIKE = "dislike"
    UNDISLIKE = "undislike"


# A map of the rating: the rating after it from (neither, liked, disliked).
StateMap = tuple[Rating, Rating, Rating]
_UNCHANGED: StateMap = (None, True, False)
_LIKE_MAPS: dict[LikeOp, StateMap] = {
    LikeOp.TOGGLE: (True, None, False),
    LikeOp.LIKE: (True, True, False),
    LikeOp.UNLIKE: (None, None, False),
}
_RATING_MAPS: dict[LikeOp, StateMap] = {
    LikeOp.TOGGLE: (True, None, True),
    LikeOp.LIKE: (True, True, True),
    LikeOp.UNLIKE: (None, None, False),
    LikeOp.TOGGLE_DISLIKE: (False, False, None),
    LikeOp.DISLIKE: (False, False, False),
    LikeOp.UNDISLIKE: (None, True, None),
}
# With dislikes off every map leaves a dislike as it is, so (from neither, from liked) says
# which like operation it is: what PostgreSQL's videolikes_write_likes() takes.
_LIKE_OPS = {state_map[:2]: op for op, state_map in _LIKE_MAPS.items()}


def rated(state_map: StateMap, rating: Rating) -> Rating:
    """The rating after `state_map`, from `rating`."""
    return state_map[0 if rating is None else 1 if rating else 2]


def op_map(op: LikeOp, *, dislikes: bool) -> StateMap:
    """What `op` does to a rating; with dislikes off, only the like operations exist."""
    return (_RATING_MAPS if dislikes else _LIKE_MAPS)[op]


def creates_rating(state_map: StateMap) -> bool:
    """Whether the map can rate what is not rated yet (so a user must exist for it)."""
    return state_map[0] is not None


@dataclass(frozen=True, slots=True)
class FoldedRun:
    """A run of writes folded into one map of the rating."""

    state_map: StateMap
    # For each write of the run: the maps from the rating the batch found to the rating just
    # before that write and just after it.
    steps: tuple[tuple[StateMap, StateMap], ...]

    @property
    def op(self) -> LikeOp | None:
        """The like operation with this run's effect (None: leave it); dislikes off only."""
        return _LIKE_OPS.get(self.state_map[:2])

    def answers(self, found: Rating) -> list[tuple[Rating, bool]]:
        """(rating after, changed) for each write of the run."""
        return [
            (rated(after, found), rated(before, found) != rated(after, found))
            for before, after in self.steps
        ]


def fold(ops: Sequence[LikeOp], *, dislikes: bool = False) -> FoldedRun:
    current = _UNCHANGED
    steps = []
    for op in ops:
        step = op_map(op, dislikes=dislikes)
        after = (rated(step, current[0]), rated(step, current[1]), rated(step, current[2]))
        steps.append((current, after))
        current = after
    return FoldedRun(current, tuple(steps))
