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
from schemas.tables import NOT_RESULTS_TABLES, RESULTS_TABLES
from tests.sampling_data import publish, results_table
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
    "results/analysis_regions": (("month", "province"), "code"),
    "results/analysis_industries": (("month", "province"), "section"),
    "results/analysis_migration": (("month", "province"), "from_class"),
}


def _dataset_of(key: str) -> str:
    """``results/x/month=…/…/f.parquet`` → ``results/x`` (the path up to its first hive key)."""
    parts = key.split("/")
    return "/".join(parts[: next((i for i, p in enumerate(parts) if "=" in p), 2)])


def _glob(prefix: str) -> str:
    """One ``*`` per partition key, never ``**``: the table's documented glob (docs/results-tables.md)."""
    glob = "/".join([prefix, *(f"{k}=*" for k in DATASETS[prefix][0]), "*.parquet"])
    assert all(t.files_glob == glob for t in RESULTS_TABLES if t.prefix == prefix)
    return glob


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
    # a month published as the classification publishes it: hidden sampling copy and change file
    # beside the partition (ADR 0100, 0121), which no reader may take for part of the dataset
    publish(lake, results_table(P, 12, run_id="run-side"), "2026-08", P, with_roster=False)
    side = [f.key for f in lake.list_files(layout.classification_prefix("2026-08", P), include_hidden=True)]
    assert any("/_changes/" in k for k in side) and any("/_sampling/" in k for k in side), side
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
            f"SELECT * FROM read_parquet('{lake.path(_glob(prefix))}', hive_partitioning = true)"
        ).to_arrow_table()
    finally:
        con.close()
    _check(t, prefix, counts[prefix])


def test_every_parquet_dataset_is_read_here_and_has_a_table(local: tuple[Lake, dict[str, int]]) -> None:
    """A new results dataset fails here until it is a table of schemas/tables.py (Glue and
    ``creditrisk query``) and read by the three readers above, or is listed, with its reason,
    in ``NOT_RESULTS_TABLES`` (ADR 0149)."""
    lake, _ = local
    found = {_dataset_of(f.key) for f in lake.list_files("results") if f.key.endswith(".parquet")}
    tables = {t.prefix for t in RESULTS_TABLES if t.format == "parquet"}
    hive = found - {"results/runs"}  # one file per run, no partition keys: not a hive dataset
    assert hive <= set(DATASETS), f"read it in DATASETS: {sorted(hive - set(DATASETS))}"
    assert found <= tables | set(NOT_RESULTS_TABLES), (
        f"no table: {sorted(found - tables - set(NOT_RESULTS_TABLES))}"
    )
    assert not tables & set(NOT_RESULTS_TABLES)
    # every results table under results/ is written by populate, so the three readers read it
    assert {p for p in tables if p.startswith("results/")} <= found
    # and each dataset holds one schema: every file's columns are its table's
    for t in RESULTS_TABLES:
        for f in lake.list_files(t.prefix) if t.prefix in found else []:
            assert lake.read_parquet(f.key).schema.names == t.schema.names, f.key


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
        root = s3_lake.display(prefix) + "/"
        keys = [  # the recipe of docs/results-tables.md: awswrangler reads hidden sidecars
            k
            for k in wrangler.s3.list_objects(root, suffix=".parquet", boto3_session=boto3_session)
            if not any(p.startswith(("_", ".")) for p in k[len(root) :].split("/"))
        ]
        df = wrangler.s3.read_parquet(keys, dataset=True, path_root=root, boto3_session=boto3_session)
        _check(df, prefix, counts[prefix])


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
        "analysis_regions",
        "analysis_industries",
        "analysis_migration",
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
    g = run_query(
        lake,
        "SELECT province, sum(entities) AS n FROM analysis_regions WHERE level = 'province' "
        "GROUP BY province ORDER BY province",
    )
    assert g.to_pylist() == [{"province": "13", "n": 1}, {"province": P, "n": g["n"][1].as_py()}]
    assert g["n"][1].as_py() > 0
    m = run_query(lake, "SELECT count(*) AS cells FROM analysis_migration WHERE month = '2026-09'")
    assert m["cells"].to_pylist() == [24]
    i = run_query(lake, "SELECT DISTINCT province FROM analysis_industries ORDER BY 1")
    assert i["province"].to_pylist() == ["13", P]
    r = run_query(lake, "SELECT ingest_id, rows_accepted, reasons['bad_date'] AS bad FROM ingest_reports")
    assert r.to_pylist() == [{"ingest_id": "ing-9", "rows_accepted": 7, "bad": 2}]
