import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

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


def test_a_server_of_a_list_without_a_port_gets_libpqs_default() -> None:
    url = engine_url("postgresql://u@h1,h2:5433/db")
    assert make_url(url).query["host"] == ("h1:5432", "h2:5433")
    _, options = create_async_engine(url).dialect.create_connect_args(make_url(url))
    assert (options["host"], options["port"]) == (["h1", "h2"], [5432, 5433])


def test_an_ipv6_address_in_a_list_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="IPv6 address in a list of servers"):
        engine_url("postgresql://u@[::1]:5432,h2:5433/db")
