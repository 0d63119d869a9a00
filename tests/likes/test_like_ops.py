"""Runs of like and dislike operations folded into one, checked against running them one by one."""

from __future__ import annotations

import itertools

import pytest

from videolikes.likes.folding import LikeOp, Rating, fold

LIKE_OPS = (LikeOp.TOGGLE, LikeOp.LIKE, LikeOp.UNLIKE)


def _after(op: LikeOp, rating: Rating, *, dislikes: bool) -> Rating:
    """What one operation leaves, told case by case as the README states it."""
    if not dislikes and rating is False:
        return False  # with dislikes off, a dislike row is never changed
    if op is LikeOp.TOGGLE:
        return None if rating is True else True
    if op is LikeOp.LIKE:
        return True
    if op is LikeOp.UNLIKE:
        return None if rating is True else rating
    if op is LikeOp.TOGGLE_DISLIKE:
        return None if rating is False else False
    if op is LikeOp.DISLIKE:
        return False
    return None if rating is False else rating


def _one_by_one(
    ops: tuple[LikeOp, ...], rating: Rating, *, dislikes: bool
) -> list[tuple[Rating, bool]]:
    answers = []
    for op in ops:
        after = _after(op, rating, dislikes=dislikes)
        answers.append((after, after != rating))
        rating = after
    return answers


LIKE_RUNS = [ops for n in range(1, 5) for ops in itertools.product(LIKE_OPS, repeat=n)]
RATING_RUNS = [ops for n in range(1, 4) for ops in itertools.product(LikeOp, repeat=n)]


def _name(ops: tuple[LikeOp, ...]) -> str:
    return "-".join(op.value for op in ops)


@pytest.mark.parametrize("ops", LIKE_RUNS, ids=_name)
@pytest.mark.parametrize("found", [None, True, False])
def test_with_dislikes_off_a_folded_run_answers_each_write_as_if_run_alone(
    ops: tuple[LikeOp, ...], found: Rating
) -> None:
    assert fold(ops).answers(found) == _one_by_one(ops, found, dislikes=False)


@pytest.mark.parametrize("ops", RATING_RUNS, ids=_name)
@pytest.mark.parametrize("found", [None, True, False])
def test_with_dislikes_on_a_folded_run_answers_each_write_as_if_run_alone(
    ops: tuple[LikeOp, ...], found: Rating
) -> None:
    assert fold(ops, dislikes=True).answers(found) == _one_by_one(ops, found, dislikes=True)


def test_with_dislikes_off_there_are_no_dislike_operations() -> None:
    with pytest.raises(KeyError):
        fold([LikeOp.DISLIKE])


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
