import pytest
from sqlalchemy.engine import make_url

from videolikes.database_urls import engine_url


def test_libpq_forms_get_the_asyncio_driver() -> None:
    assert engine_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert engine_url("postgresql://u@h:5433/db") == "postgresql+asyncpg://u@h:5433/db"
    assert engine_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"


def test_a_libpq_server_list_reaches_asyncpg_as_hosts_and_ports_in_order() -> None:
    url = engine_url(
        "postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write&sslmode=disable"
    )
    parsed = make_url(url)
    assert parsed.query["host"] == ("h1:5432", "h2:5433")
    assert parsed.password == "pw"
    assert parsed.query["target_session_attrs"] == "read-write"
    assert parsed.query["sslmode"] == "disable"


@pytest.mark.parametrize(
    "url", ["postgresql://u:hunter2@h1,,h2/db", "postgresql://u:hunter2@h:x/db"]
)
def test_a_malformed_url_is_refused_without_quoting_it(url: str) -> None:
    with pytest.raises(ValueError, match="expected a database URL") as refused:
        engine_url(url)
    assert "hunter2" not in str(refused.value)
