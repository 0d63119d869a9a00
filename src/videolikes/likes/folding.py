"""Like operations as maps of the like state, so that several writes fold into one.

Each operation maps the state before it (liked or not) to the state after it: a toggle flips
it, a like sets it, an unlike clears it. Any run of them composes into one of four maps, so a
batch can write the run of one client on one video once, and still give every write in the run
the answer it would have had alone, in order, from the state the batch found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class LikeOp(StrEnum):
    TOGGLE = "toggle"
    LIKE = "like"
    UNLIKE = "unlike"


# A map of the like state: (the state after it from "not liked", from "liked").
StateMap = tuple[bool, bool]
_UNCHANGED: StateMap = (False, True)
_MAPS: dict[LikeOp, StateMap] = {
    LikeOp.TOGGLE: (True, False),
    LikeOp.LIKE: (True, True),
    LikeOp.UNLIKE: (False, False),
}
_OPS = {state_map: op for op, state_map in _MAPS.items()}


@dataclass(frozen=True, slots=True)
class FoldedRun:
    """A run of writes folded: the one operation to apply (None: leave the state as it is)."""

    op: LikeOp | None
    # For each write of the run: the maps from the state the batch found to the state just
    # before that write and just after it.
    steps: tuple[tuple[StateMap, StateMap], ...]

    def answers(self, found_liked: bool) -> list[tuple[bool, bool]]:
        """(liked after, changed) for each write of the run."""
        return [
            (after[found_liked], before[found_liked] != after[found_liked])
            for before, after in self.steps
        ]


def fold(ops: Sequence[LikeOp]) -> FoldedRun:
    current = _UNCHANGED
    steps = []
    for op in ops:
        step = _MAPS[op]
        after = (step[current[0]], step[current[1]])
        steps.append((current, after))
        current = after
    return FoldedRun(_OPS.get(current), tuple(steps))
