"""Coverage rows from one curated file, the requirement grammar, and the classification
manifest's list of incomplete inputs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from functions.classify.run import classify_month
from functions.coverage.requires import Need, Requirement, inputs_incomplete, report_year_due
from functions.coverage.store import Delivered, coverage_rows, summarise, summary
from functions.lake import Lake
from functions.settings import Settings
from functions.warnings.compile import Period, compile_rule
from functions.warnings.config import load_rules
from schemas.datasets import DATASETS
from schemas.warnings import COVERAGE_SCHEMA
from tests.warnings_data import code, entity, write_curated

D = dt.date
AT = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize("dataset", ["annual_reports", "penalties"])
def test_coverage_counted_in_batches_is_that_of_the_whole_table(dataset: str) -> None:
    """What the ingest counts as it writes (docs/adr/0136) is what reading the file back gives:
    batches without a date, without a year, or empty change nothing."""
    date_col = DATASETS[dataset].event_date
    t = pa.table(
        {
            "year": pa.array([2025, None, 2024, 2025, 2023, 2025], pa.int64()),
            date_col: pa.array(
                [None, D(2026, 1, 2), D(2025, 5, 1), D(2026, 3, 1), None, D(2025, 6, 9)], pa.date32()
            ),
        }
    )
    delivered = Delivered(dataset)
    for lo, hi in [(0, 1), (1, 1), (1, 3), (3, 6)]:
        delivered.add(t.slice(lo, hi - lo))
    whole = coverage_rows(dataset, t, ingest_id="i1", ingested_at=AT)
    assert delivered.rows(ingest_id="i1", ingested_at=AT) == whole
    assert len(whole) == (3 if dataset == "annual_reports" else 1)


def test_annual_reports_cover_one_row_per_report_year() -> None:
    t = pa.table(
        {
            "year": pa.array([2024, 2025, 2025], pa.int64()),
            "filed_on": pa.array([D(2025, 5, 1), D(2026, 3, 1), None], pa.date32()),
        }
    )
    rows = coverage_rows("annual_reports", t, ingest_id="i1", ingested_at=AT)
    assert [(r["report_year"], r["rows"], r["first_event_on"], r["last_event_on"]) for r in rows] == [
        (2024, 1, D(2025, 5, 1), D(2025, 5, 1)),
        (2025, 2, D(2026, 3, 1), D(2026, 3, 1)),
    ]
    cov = summarise("42", pa.Table.from_pylist(rows, schema=COVERAGE_SCHEMA))
    assert cov.datasets["annual_reports"].report_years == (2024, 2025)


@pytest.mark.parametrize(
    ("end", "year"), [(D(2026, 6, 30), 2024), (D(2026, 7, 31), 2025), (D(2027, 1, 31), 2025)]
)
def test_report_year_due_follows_the_30_june_deadline(end: dt.date, year: int) -> None:
    assert report_year_due(end) == year


def test_requirements_resolve_per_month_and_check_coverage() -> None:
    rows = coverage_rows(
        "complaints",
        pa.table({"received_on": pa.array([D(2026, 8, 3), D(2026, 9, 20)], pa.date32())}),
        ingest_id="c1",
        ingested_at=AT,
    )
    cov = summarise("42", pa.Table.from_pylist(rows, schema=COVERAGE_SCHEMA))
    start, end = D(2026, 10, 1), D(2026, 10, 31)
    assert Requirement.parse("complaints").need(start, end).met(cov)
    through = Requirement.parse("complaints@through>=M-1").need(start, end)
    assert through.text == "complaints@through>=2026-09-01" and through.met(cov)
    assert not Requirement.parse("complaints@through>=M").need(start, end).met(cov)
    ar = Requirement.parse("annual_reports@report_year>=R").need(start, end)
    assert ar.text == "annual_reports@report_year>=2025" and not ar.met(cov)
    assert ar.missing(cov) == "annual_reports was never delivered"
    assert Requirement.parse("annual_reports@report_year>=Y-1").need(start, end).report_year == 2025
    assert Need.parse(ar.text) == ar
    for bad in ("nope", "penalties@report_year>=Y", "complaints@through>=Y", "entities@x"):
        with pytest.raises(ValueError):
            Requirement.parse(bad)


def test_every_shipped_rule_requires_each_dataset_its_sql_reads() -> None:
    """The declared inputs are not decoration: a rule reading a dataset must require it."""
    import sqlglot
    from sqlglot import exp

    for rule in load_rules().rules:
        sql = compile_rule(rule, Period.of("2026-10", "2026-09"))
        read = {t.name for t in sqlglot.parse_one(sql, read="trino").find_all(exp.Table)} & set(DATASETS)
        required = {r.dataset for r in rule.requirements}
        # related_to_d_class also works from entities.legal_rep_id alone: relationships optional
        optional = {"relationships"} if rule.kind == "related_to_class" else set()
        assert read - optional <= required, (rule.id, read, required)


def test_manifest_names_the_inputs_the_province_has_not_delivered(local_lake: Lake) -> None:
    write_curated(local_lake, "entities", "42", [entity(1), entity(2)])
    write_curated(
        local_lake, "penalties", "42",
        [{"decision_no": "F-1", "uscc": code(1), "decided_on": D(2026, 9, 1), "authority": "x",
          "domain": "food", "kind": "fine", "amount": 1.0}],
        ingest_id="p1",
    )  # fmt: skip
    assert set(summary(local_lake, "42").datasets) == {"entities", "penalties"}
    res = classify_month(
        local_lake, month="2026-10", province="42", settings=Settings(lake_uri=local_lake.uri), cutoff=AT
    )
    gaps = {g["requirement"]: g for g in res.manifest["inputs_incomplete"]}
    assert "penalties" not in gaps and "entities" not in gaps
    assert "annual_reports@report_year>=2025" in gaps and "abnormal_list" in gaps
    assert all(g["read_by"] for g in gaps.values())
    assert gaps["abnormal_list"]["missing"] == "abnormal_list was never delivered"
    # The same check on a fully covered province is empty.
    assert (
        inputs_incomplete(summary(local_lake, "42"), {"penalties": ["x"]}, D(2026, 10, 1), D(2026, 10, 31))
        == []
    )


def test_cli_rebuilds_and_shows_coverage(tmp_path: Path) -> None:
    """Through a real subprocess: exit statuses and the rebuilt coverage."""
    lake = Lake.from_uri(str(tmp_path / "lake"))
    write_curated(lake, "entities", "42", [entity(1)], coverage=False)
    write_curated(
        lake, "annual_reports", "42", [{"uscc": code(1), "year": 2025, "filed_on": D(2026, 5, 1)}],
        ingest_id="r1", coverage=False,
    )  # fmt: skip
    assert summary(lake, "42").datasets == {}
    cmd = [sys.executable, "-m", "functions.cli", "--lake", str(tmp_path / "lake"), "coverage", "--province"]
    done = subprocess.run([*cmd, "42", "--rebuild", "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["recorded"] == 2 and out["datasets"]["annual_reports"]["report_years"] == [2025]
    assert summary(lake, "42").datasets["entities"].rows == 1
    bad = subprocess.run([*cmd, "4x"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "province" in bad.stderr
