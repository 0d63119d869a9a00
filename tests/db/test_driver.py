from sqlalchemy import text

from videolikes.db.driver import Numbered


def test_parameters_are_numbered_in_order_of_first_use_and_reused() -> None:
    statement = Numbered.of(
        text("SELECT * FROM unnest(CAST(:b AS text[]), CAST(:a AS int[])) WHERE x = :b")
    )
    assert (
        statement.sql == "SELECT * FROM unnest(CAST($1 AS text[]), CAST($2 AS int[])) WHERE x = $1"
    )
    assert statement.args(a=[1], b=["x"]) == [["x"], [1]]
