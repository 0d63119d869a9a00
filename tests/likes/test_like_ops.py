"""Runs of like operations folded into one, checked against running them one by one."""

from __future__ import annotations

import itertools

import pytest

from videolikes.likes.folding import LikeOp, fold


def _one_by_one(ops: tuple[LikeOp, ...], liked: bool) -> list[tuple[bool, bool]]:
    answers = []
    for op in ops:
        after = {LikeOp.TOGGLE: not liked, LikeOp.LIKE: True, LikeOp.UNLIKE: False}[op]
        answers.append((after, after != liked))
        liked = after
    return answers


RUNS = [ops for n in range(1, 5) for ops in itertools.product(LikeOp, repeat=n)]


@pytest.mark.parametrize("ops", RUNS, ids=lambda ops: "-".join(op.value for op in ops))
@pytest.mark.parametrize("found_liked", [False, True])
def test_a_folded_run_answers_each_write_as_if_run_alone(
    ops: tuple[LikeOp, ...], found_liked: bool
) -> None:
    assert fold(ops).answers(found_liked) == _one_by_one(ops, found_liked)


@pytest.mark.parametrize(
    ("ops", "folded"),
    [
        ((LikeOp.TOGGLE,), LikeOp.TOGGLE),
        ((LikeOp.TOGGLE, LikeOp.TOGGLE), None),
        ((LikeOp.TOGGLE, LikeOp.TOGGLE, LikeOp.TOGGLE), LikeOp.TOGGLE),
        ((LikeOp.UNLIKE, LikeOp.TOGGLE), LikeOp.LIKE),
        ((LikeOp.LIKE, LikeOp.TOGGLE), LikeOp.UNLIKE),
        ((LikeOp.TOGGLE, LikeOp.LIKE), LikeOp.LIKE),
    ],
)
def test_a_run_folds_into_the_one_operation_with_its_effect(
    ops: tuple[LikeOp, ...], folded: LikeOp | None
) -> None:
    assert fold(ops).op is folded
