"""The DuckDB engine runs the statement without its final decode of the reasons and decodes the
ranked keys in Arrow (ADR 0069). The published file must equal, row for row and value for value,
what the full compiled statement (the one Athena runs) computes, for one system and for a run
with a system per entity type."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from functions import layout
from functions.classify.compile import to_duckdb
from functions.classify.engine_duckdb import conform, connect, register_lake_tables
from functions.classify.run import classify_month
from functions.generate.generate import generate_province
from functions.ingest.pipeline import ingest_tree
from functions.lake import Lake
from functions.settings import Settings
from schemas.results import CLASSIFICATION_SCHEMA


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root: Path = tmp_path_factory.mktemp("province")
    generate_province(root, province="42", entities=4_000, months=24, seed=11, end_month="2026-11")
    lake = Lake.from_uri(str(root))
    ingest_tree(lake, lake, settings=Settings(lake_uri=str(root), landing_uri=None))
    return lake


def _full_statement(lake: Lake, sql: str) -> pa.Table:
    con = connect()
    try:
        register_lake_tables(con, lake, province="42")
        return conform(con.sql(to_duckdb(sql)).to_arrow_table())
    finally:
        con.close()


@pytest.mark.parametrize(
    ("months", "systems"),
    [(("2026-04", "2026-05"), {}), (("2026-06",), {"individual": "langfang-public-credit"})],
)
def test_published_file_equals_the_full_statement(
    lake: Lake, months: tuple[str, ...], systems: dict[str, str]
) -> None:
    settings = Settings(lake_uri=lake.uri, landing_uri=None, class_systems=systems)
    for month in months:
        result = classify_month(lake, month=month, province="42", settings=settings)
        assert result.manifest["engine_plan"]["reasons"] == "keys_decoded_in_arrow"
        published = lake.read_parquet(layout.classification_key(month, "42"))
        assert published.schema.equals(CLASSIFICATION_SCHEMA)
        expected = _full_statement(lake, result.manifest["statements"][0])
        assert published.num_rows == expected.num_rows == result.rows > 3_000
        assert published.equals(expected)
    reasons = published.column("reasons").to_pylist()
    assert sum(1 for r in reasons if len(r) == 5) > 20 and any(not r for r in reasons)
    if systems:
        assert set(published.column("model").to_pylist()) == {
            "samr-general@1.2",
            "langfang-public-credit@1.0",
        }
    else:
        assert published.column("previous_class").null_count < published.num_rows
