"""The dialect traps between Athena (Trino) and DuckDB, and how the compiler guards each one.

Each test computes the Trino semantic by hand, shows the naive transpiled form differs on DuckDB,
and proves the form the compiler emits gives the Trino answer on DuckDB.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlglot

from functions.classify.compile import _sql_text, compile_system, to_duckdb
from functions.classify.curated_views import timestamp_literal
from functions.classify.load import load_system, parse_system
from functions.errors import ConfigError
from functions.months import add_months
from tests.unit.test_classify_system import GOOD


def one(sql_trino: str) -> object:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con.sql(to_duckdb(sql_trino)).fetchall()[0][0]


def test_integer_division() -> None:
    # Trino: 7 / 2 = 3 (integer division); sqlglot keeps "/" and DuckDB answers 3.5.
    assert one("SELECT 7 / 2") == 3.5
    # The compiler casts the dividend of every user division to DOUBLE, so both engines say 3.5;
    # and a Trino-style integer quotient, when wanted, is written explicitly (floor of the DOUBLE).
    guarded = _sql_text("a / b", {"a": "7", "b": "2"})
    assert "CAST(7 AS DOUBLE)" in guarded
    assert one(f"SELECT {guarded}") == 3.5
    assert one("SELECT floor(CAST(7 AS DOUBLE) / 2)") == 3


def test_date_diff_counts_complete_units_on_trino_only() -> None:
    # Trino: date_diff('month', 2026-01-31, 2026-02-28) = 0 (no complete month); DuckDB counts
    # month boundaries and answers 1 after transpilation.
    naive = "SELECT date_diff('month', DATE '2026-01-31', DATE '2026-02-28')"
    assert one(naive) == 1
    # The compiler never emits date_diff: windows are explicit comparisons against DATE literals
    # computed with Trino's date_add rule, which gives the Trino answer on DuckDB.
    start = add_months(dt.date(2026, 2, 28), -1)
    assert start == dt.date(2026, 1, 28)
    assert one(f"SELECT DATE '2026-01-31' > DATE '{start.isoformat()}'") is True  # within one month
    # and user expressions may not use it at all
    text = GOOD.replace(
        "year(period_end) - year(established_on)", "date_diff('year', established_on, period_end)"
    )
    with pytest.raises(ConfigError, match="behaves differently on Athena and DuckDB"):
        parse_system(text, "t.yaml")


@pytest.mark.parametrize(
    ("day", "months", "trino"),
    [
        (dt.date(2024, 2, 29), -12, dt.date(2023, 2, 28)),
        (dt.date(2026, 3, 31), -1, dt.date(2026, 2, 28)),
        (dt.date(2026, 6, 30), -12, dt.date(2025, 6, 30)),
        (dt.date(2026, 12, 31), -36, dt.date(2023, 12, 31)),
    ],
)
def test_add_months_matches_trino_date_add(day: dt.date, months: int, trino: dt.date) -> None:
    assert add_months(day, months) == trino


def test_date_versus_timestamp() -> None:
    # Trino: date_add on a DATE returns a DATE; transpiled to DuckDB it becomes a TIMESTAMP.
    assert one("SELECT typeof(date_add('month', -12, DATE '2024-02-29'))") == "TIMESTAMP"
    # The compiler emits DATE literals (no arithmetic), which stay DATE on both engines.
    assert one("SELECT typeof(DATE '2023-02-28')") == "DATE"
    # The ingest cutoff is a timestamp with time zone in UTC, exact to the microsecond:
    cut = dt.datetime(2026, 7, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    same = "TIMESTAMP '2026-07-01 12:00:00.123456 UTC'"
    assert timestamp_literal(cut) == same
    assert one(f"SELECT CAST({same} AS TIMESTAMP WITH TIME ZONE) <= {timestamp_literal(cut)}") is True
    later = timestamp_literal(cut + dt.timedelta(microseconds=1))
    assert one(f"SELECT {later} <= {timestamp_literal(cut)}") is False
    # a cutoff given in China time means the same instant
    china = cut.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert timestamp_literal(china) == same


def test_compiled_sql_avoids_every_trap() -> None:
    for system_id in ("samr-general", "langfang-public-credit"):
        compiled = compile_system(
            load_system(system_id),
            month="2024-02",
            province="13",
            cutoff=dt.datetime(2024, 3, 5, tzinfo=dt.UTC),
            run_id="r",
        )
        lowered = compiled.sql.lower()
        assert "date_diff" not in lowered and "date_add" not in lowered
        assert "DATE '2023-02-29'" not in compiled.sql  # window starts are clamped like Trino
        assert "DATE '2024-02-29'" in compiled.sql
        to_duckdb(compiled.sql)  # transpiles
        sqlglot.parse_one(compiled.sql, read="trino", error_level=sqlglot.ErrorLevel.RAISE)  # strict Trino
