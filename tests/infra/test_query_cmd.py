"""``creditrisk query``: the auditors' Athena SQL runs unchanged on a local lake (docs/audit.md)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from functions.cli.query_cmd import command, run_query, to_duckdb_sql
from functions.errors import InvalidInput
from functions.lake import Lake
from functions.layout import classification_key, curated_key
from functions.uscc import make
from schemas.datasets import DATASETS
from schemas.results import CLASSIFICATION_SCHEMA

A = make("420100", "MA4K0001")
B = make("420102", "MA4K0002")
C = make("230100", "MA4K0003")


def _result(uscc: str, cls: str, score: float, month_run: str) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "name": f"企业{uscc[-4:]}",
        "entity_type": "enterprise",
        "region_code": uscc[2:8],
        "industry_code": "F52",
        "risk_score": score,
        "risk_class": cls,
        "previous_class": None,
        "dimension_scores": {
            "basic": 1.0,
            "dynamic": 2.0,
            "regulatory": score - 3,
            "relationship": 0.0,
            "social": 0.0,
        },
        "reasons": [{"code": "R1", "label": "行政处罚 / penalties", "points": score - 3}],
        "rules": ["serious_dishonesty"] if cls == "D" else [],
        "model": "samr-general@1",
        "run_id": month_run,
    }


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    rows = [_result(A, "B", 40.0, "r10"), _result(B, "D", 90.0, "r10")]
    local_lake.write_parquet(
        classification_key("2026-10", "42"), pa.Table.from_pylist(rows, CLASSIFICATION_SCHEMA)
    )
    local_lake.write_parquet(
        classification_key("2026-09", "42"),
        pa.Table.from_pylist([_result(A, "A", 10.0, "r09")], CLASSIFICATION_SCHEMA),
    )
    local_lake.write_parquet(
        classification_key("2026-10", "23"),
        pa.Table.from_pylist([_result(C, "C", 70.0, "r10b")], CLASSIFICATION_SCHEMA),
    )
    local_lake.write_json(
        "results/classifications/month=2026-10/province=42/_current.json", {"run_id": "r10"}
    )
    spec = DATASETS["penalties"]
    now = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
    common = {
        "authority": "武汉",
        "repaired_on": None,
        "withdrawn": None,
        "_ingest_id": "i1",
        "_ingested_at": now,
    }
    penalties = [
        {**common, "decision_no": "P1", "uscc": A, "decided_on": dt.date(2026, 10, 8), "domain": "food",
         "kind": "fine", "amount": 5000.0, "_source_line": 2},
        {**common, "decision_no": "P2", "uscc": B, "decided_on": dt.date(2026, 9, 30), "domain": "price",
         "kind": "warning", "amount": None, "_source_line": 3},
    ]  # fmt: skip
    table = pa.Table.from_pylist(penalties, spec.curated_schema)
    local_lake.write_parquet(curated_key("penalties", "42", "i1"), table)
    # A half-written temporary file must never be read.
    local_lake.write_parquet("curated/penalties/province=42/ingest=i2/_tmp-x-part-0.parquet", table)
    return local_lake


def test_athena_sql_with_database_qualifier_runs_on_the_local_lake(lake: Lake) -> None:
    out = run_query(
        lake,
        "SELECT risk_class, count(*) AS n FROM creditrisk_prod.classifications "
        "WHERE month = '2026-10' AND province = '42' GROUP BY risk_class ORDER BY risk_class",
    )
    assert out.to_pylist() == [{"risk_class": "B", "n": 1}, {"risk_class": "D", "n": 1}]


def test_nested_columns_and_trino_functions(lake: Lake) -> None:
    sql = """
        SELECT c.uscc, r.code, r.points, cardinality(c.rules) AS nrules,
               c.dimension_scores.regulatory AS reg
        FROM "AwsDataCatalog"."creditrisk_dev"."classifications" c
        CROSS JOIN UNNEST(c.reasons) AS t(r)
        WHERE c.month = '2026-10' AND c.province = '42' AND c.risk_class = 'D'
    """
    assert run_query(lake, sql).to_pylist() == [
        {"uscc": B, "code": "R1", "points": 87.0, "nrules": 1, "reg": 87.0}
    ]


def test_month_over_month_and_curated_join(lake: Lake) -> None:
    sql = """
        WITH cur AS (SELECT uscc, risk_class FROM classifications WHERE month = '2026-10'),
             prev AS (SELECT uscc, risk_class FROM classifications WHERE month = '2026-09')
        SELECT cur.uscc, prev.risk_class AS was, cur.risk_class AS now,
               (SELECT count(*) FROM curated_penalties p WHERE p.uscc = cur.uscc
                  AND date_diff('day', p.decided_on, DATE '2026-10-31') <= 30) AS recent_penalties
        FROM cur LEFT JOIN prev ON prev.uscc = cur.uscc
        ORDER BY cur.uscc
    """
    rows = run_query(lake, sql).to_pylist()
    assert rows == [  # C (province 23) sorts first
        {"uscc": C, "was": None, "now": "C", "recent_penalties": 0},
        {"uscc": A, "was": "A", "now": "B", "recent_penalties": 1},
        {"uscc": B, "was": None, "now": "D", "recent_penalties": 0},  # 2026-09-30 is 31 days back
    ]


def test_partition_columns_and_hidden_files(lake: Lake) -> None:
    rows = run_query(
        lake, "SELECT province, count(*) AS n FROM creditrisk_dev.curated_penalties GROUP BY 1"
    ).to_pylist()
    assert rows == [{"province": "42", "n": 2}]  # the _tmp- copy is not counted


def test_empty_tables_still_have_their_columns(local_lake: Lake) -> None:
    out = run_query(local_lake, "SELECT uscc, month FROM classifications")
    assert out.num_rows == 0 and out.column_names == ["uscc", "month"]


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("DROP TABLE classifications", "only queries"),
        ("SELECT 1; SELECT 2", "exactly one"),
        ("SELEC nothing FROM", "not valid Athena SQL"),
        ("SELECT no_such_column FROM classifications", "query failed"),
    ],
)
def test_bad_sql_is_a_clear_error(lake: Lake, sql: str, problem: str) -> None:
    with pytest.raises(InvalidInput) as err:
        run_query(lake, sql)
    assert problem in str(err.value)
    assert err.value.field == "sql"


def test_translation_drops_qualifiers_and_keeps_semantics() -> None:
    out = to_duckdb_sql("SELECT approx_distinct(uscc) FROM creditrisk_prod.classifications")
    assert "creditrisk_prod" not in out and "classifications" in out


def test_cli_formats(lake: Lake) -> None:
    runner = CliRunner()
    sql = "SELECT uscc, risk_class FROM classifications WHERE month = '2026-10' ORDER BY uscc"
    res = runner.invoke(command, [sql, "--format", "jsonl"], obj={"lake": lake.uri})
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["risk_class"] for line in res.output.splitlines()] == ["C", "B", "D"]
    res = runner.invoke(command, [sql], obj={"lake": lake.uri})
    assert res.exit_code == 0 and "(3 rows)" in res.output and "risk_class" in res.output
    res = runner.invoke(command, [sql, "--format", "csv", "--max-rows", "1"], obj={"lake": lake.uri})
    assert res.output.splitlines() == ['"uscc","risk_class"', f'"{C}","C"']
