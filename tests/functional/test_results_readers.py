"""Every results dataset reads whole with the tools auditors use (docs/adr/0105): pyarrow's hive
datasets, awswrangler (``dataset=True``, on moto S3) and DuckDB's ``read_parquet(...,
hive_partitioning = true)``; and the same datasets are tables of ``creditrisk query``.

The files never repeat a partition key as a column, so no reader meets ``province`` as text in
the file and as an integer in the path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import duckdb
import pyarrow.dataset as pads
import pytest

from functions import layout
from functions.analysis.analyse import analyse
from functions.cli.query_cmd import run_query
from functions.lake import Lake
from functions.settings import Settings
from functions.warnings import run_warnings
from schemas.tables import RESULTS_TABLES
from tests.unit.test_warnings_rules import NOW, M, P, build
from tests.warnings_data import classification_rows, code, publish_classification

# dataset → (partition keys, a column every row has)
DATASETS = {
    "results/warnings": (("month", "province"), "warning_key"),
    "results/tasks": (("month", "province"), "task_id"),
    "results/coverage": (("province",), "dataset"),
    "results/warnings-state": (("province",), "warning_key"),
    "results/classifications": (("month", "province"), "uscc"),
    "results/field_classifications": (("field", "month", "province"), "uscc"),
}
# results/analysis holds one file per kind in each partition (different schemas): each kind
# is its own dataset, read whole across months and provinces by its file name
ANALYSIS = {"regions": "code", "industries": "section", "migration": "from_class"}
ANALYSIS_KEYS = ("month", "province")


def populate(lake: Lake, settings: Settings) -> dict[str, int]:
    """Two provinces, two months of warnings (with states), tasks, coverage, classifications."""
    build(lake)
    publish_classification(
        lake, "2026-09", "13", [{"uscc": code(5, "130102"), "risk_class": "A", "risk_score": 1.0}]
    )
    # a professional field's result, as classify_fields publishes it (docs/adr/0117)
    field_rows = classification_rows(
        [{"uscc": code(5, "420102"), "risk_class": "C", "risk_score": 30.0}], run_id="run-food"
    )
    lake.write_parquet(layout.field_classification_key("food", M, P), field_rows)
    run_warnings(lake, month=M, province=P, trigger="monthly", now=NOW, settings=settings)
    run_warnings(
        lake,
        month="2026-11",
        province=P,
        trigger="monthly",
        now=NOW + dt.timedelta(days=30),
        settings=settings,
    )
    analyse(lake, month=M, province=P, settings=settings, write=True)
    analyse(lake, month="2026-09", province="13", settings=settings, write=True)
    counts = {}
    for kind in ANALYSIS:
        files = [f.key for f in lake.list_files("results/analysis") if f.key.endswith(f"/{kind}.parquet")]
        assert {k.split("province=")[1][:2] for k in files} == {P, "13"}
        counts[kind] = sum(lake.read_parquet(k).num_rows for k in files)
    for prefix in DATASETS:
        counts[prefix] = sum(
            lake.read_parquet(f.key).num_rows for f in lake.list_files(prefix) if f.key.endswith(".parquet")
        )
    assert all(counts[p] for p in DATASETS), counts
    return counts


def _check(table: Any, prefix: str, expected: int) -> None:
    keys, col = DATASETS[prefix]
    names = table.column_names if hasattr(table, "column_names") else list(table.columns)
    assert set(keys) <= set(names) and col in names
    assert len(table) == expected


@pytest.fixture
def local(local_lake: Lake, local_settings: Settings) -> tuple[Lake, dict[str, int]]:
    return local_lake, populate(local_lake, local_settings)


@pytest.mark.parametrize("prefix", sorted(DATASETS))
def test_files_never_carry_a_partition_key(local: tuple[Lake, dict[str, int]], prefix: str) -> None:
    lake, _ = local
    keys, _ = DATASETS[prefix]
    for f in lake.list_files(prefix):
        if f.key.endswith(".parquet"):
            assert not set(keys) & set(lake.read_parquet(f.key).column_names), f.key


@pytest.mark.parametrize("prefix", sorted(DATASETS))
def test_pyarrow_hive_dataset_reads_whole(local: tuple[Lake, dict[str, int]], prefix: str) -> None:
    lake, counts = local
    t = pads.dataset(lake.path(prefix), format="parquet", partitioning="hive").to_table()
    _check(t, prefix, counts[prefix])
    assert "42" in {str(v) for v in t["province"].to_pylist()}


@pytest.mark.parametrize("prefix", sorted(DATASETS))
def test_duckdb_hive_partitioning_reads_whole(local: tuple[Lake, dict[str, int]], prefix: str) -> None:
    lake, counts = local
    con = duckdb.connect()
    try:
        t = con.sql(
            f"SELECT * FROM read_parquet('{lake.path(prefix)}/**/*.parquet', hive_partitioning = true)"
        ).to_arrow_table()
    finally:
        con.close()
    _check(t, prefix, counts[prefix])


def _check_analysis(table: Any, kind: str, expected: int) -> None:
    names = table.column_names if hasattr(table, "column_names") else list(table.columns)
    assert set(ANALYSIS_KEYS) <= set(names) and ANALYSIS[kind] in names
    assert len(table) == expected


@pytest.mark.parametrize("kind", sorted(ANALYSIS))
def test_analysis_kinds_read_whole_with_pyarrow_and_duckdb(
    local: tuple[Lake, dict[str, int]], kind: str
) -> None:
    lake, counts = local
    files = [f.key for f in lake.list_files("results/analysis") if f.key.endswith(f"/{kind}.parquet")]
    for f in files:  # never a partition key inside the file
        assert not set(ANALYSIS_KEYS) & set(lake.read_parquet(f).column_names), f
    t = pads.dataset(
        [lake.path(f) for f in files],
        format="parquet",
        partitioning="hive",
        partition_base_dir=lake.path("results/analysis"),
    ).to_table()
    _check_analysis(t, kind, counts[kind])
    con = duckdb.connect()
    try:
        d = con.sql(
            f"SELECT * FROM read_parquet('{lake.path('results/analysis')}/*/*/{kind}.parquet', "
            "hive_partitioning = true)"
        ).to_arrow_table()
    finally:
        con.close()
    _check_analysis(d, kind, counts[kind])


@pytest.fixture
def wrangler(moto_endpoint: str) -> Iterator[Any]:
    import awswrangler as wr

    before = wr.config.s3_endpoint_url
    wr.config.s3_endpoint_url = moto_endpoint
    yield wr
    wr.config.s3_endpoint_url = before


def test_awswrangler_reads_every_dataset_on_s3(
    s3_lake: Lake, s3_settings: Settings, boto3_session: boto3.Session, wrangler: Any
) -> None:
    counts = populate(s3_lake, s3_settings)
    for prefix in DATASETS:
        df = wrangler.s3.read_parquet(
            path=s3_lake.display(prefix) + "/",
            dataset=True,
            path_suffix=".parquet",
            boto3_session=boto3_session,
        )
        _check(df, prefix, counts[prefix])
    for kind in ANALYSIS:
        df = wrangler.s3.read_parquet(
            path=s3_lake.display("results/analysis") + "/",
            dataset=True,
            path_suffix=f"/{kind}.parquet",
            boto3_session=boto3_session,
        )
        _check_analysis(df, kind, counts[kind])


def test_results_tables_in_creditrisk_query(local: tuple[Lake, dict[str, int]]) -> None:
    lake, counts = local
    lake.write_json(
        "reports/ingest/42/penalties/ing-9.json",
        {"ingest_id": "ing-9", "source_key": "incoming/42/penalties/a.csv", "province": "42",
         "dataset": "penalties", "size": 10, "sha256": "0" * 64, "status": "accepted",
         "ingested_at": "2026-11-01T00:00:00Z", "reasons": {"bad_date": 2}, "rows_accepted": 7},
    )  # fmt: skip
    names = {t.name for t in RESULTS_TABLES}
    assert names == {
        "warnings",
        "tasks",
        "coverage",
        "ingest_reports",
        "field_classifications",
        "backtest_classifications",
    }
    f = run_query(lake, "SELECT field, month, province, risk_class FROM field_classifications")
    assert f.to_pylist() == [{"field": "food", "month": M, "province": P, "risk_class": "C"}]
    w = run_query(lake, "SELECT count(*) AS n FROM creditrisk_prod.warnings WHERE province = '42'")
    assert w["n"].to_pylist() == [counts["results/warnings"]]
    states = run_query(lake, "SELECT DISTINCT state FROM warnings ORDER BY 1")["state"].to_pylist()
    assert set(states) <= {"open", "resolved", "retracted"} and "open" in states
    t = run_query(
        lake, "SELECT count(*) AS n, count(DISTINCT task_id) AS d FROM tasks WHERE month = '2026-10'"
    )
    assert t["n"].to_pylist()[0] >= t["d"].to_pylist()[0] > 0
    c = run_query(lake, "SELECT DISTINCT dataset FROM coverage WHERE province = '42' ORDER BY 1")
    assert "entities" in c["dataset"].to_pylist()
    r = run_query(lake, "SELECT ingest_id, rows_accepted, reasons['bad_date'] AS bad FROM ingest_reports")
    assert r.to_pylist() == [{"ingest_id": "ing-9", "rows_accepted": 7, "bad": 2}]
