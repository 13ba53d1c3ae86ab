"""Indicators gated by coverage (docs/adr/0132): an indicator whose input the province has not
delivered scores nothing, the manifest names it with the missing input, and the later delivery
lifts the gate; coverage is recorded on first need for curated files without it (ADR 0133)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from functions import layout
from functions.classify.compile import compile_system, to_duckdb
from functions.classify.gating import gate, held_back
from functions.classify.load import load_system
from functions.classify.run import classify_month
from functions.coverage.store import coverage_rows, summarise, summary
from functions.lake import Lake
from functions.settings import Settings
from schemas.warnings import COVERAGE_SCHEMA
from tests.warnings_data import code, entity, write_curated

D = dt.date
AT = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
SYSTEM = "samr-general@1.2"


def _coverage(**datasets: pa.Table) -> object:
    rows = [r for ds, t in datasets.items() for r in coverage_rows(ds, t, ingest_id=ds, ingested_at=AT)]
    return summarise("42", pa.Table.from_pylist(rows, schema=COVERAGE_SCHEMA))


def test_gate_derives_each_indicators_need_from_its_dataset() -> None:
    system = load_system(SYSTEM)
    cov = _coverage(
        entities=pa.table({"established_on": pa.array([D(2020, 1, 1)], pa.date32())}),
        penalties=pa.table({"decided_on": pa.array([D(2026, 9, 1)], pa.date32())}),
        annual_reports=pa.table(
            {"year": pa.array([2024], pa.int64()), "filed_on": pa.array([None], pa.date32())}
        ),
    )
    g = gate([system], cov, D(2026, 10, 31))  # type: ignore[arg-type]
    gated = g.for_system(system)
    readers = {ind.code: ind.definition.dataset for ind, _, _ in system.leaves() if ind.definition}
    assert "UNFILED_REPORTS" in gated  # report year 2025 is due and not delivered
    assert "FINES_24M" not in gated and "PENALTIES_24M" not in gated  # penalties delivered
    assert not any(readers[c] == "entities" for c in gated)
    assert gated == {c for c, ds in readers.items() if ds not in ("entities", "penalties")}
    by_req = {i["requirement"]: i for i in g.incomplete}
    assert by_req["annual_reports@report_year>=2025"]["read_by"] == [f"{SYSTEM}:UNFILED_REPORTS"]
    assert "delivered: 2024" in str(by_req["annual_reports@report_year>=2025"]["missing"])
    assert f"{SYSTEM}:UNFILED_REPORTS" in g.indicators
    # In June the due year is still 2024: delivered, nothing gated on annual reports.
    assert "UNFILED_REPORTS" not in gate([system], cov, D(2026, 6, 30)).for_system(system)  # type: ignore[arg-type]


def test_a_gated_indicator_is_not_computed_and_scores_nothing() -> None:
    system = load_system(SYSTEM)
    args = {"month": "2026-10", "province": "42", "cutoff": AT, "run_id": "r"}
    full = compile_system(system, **args)  # type: ignore[arg-type]
    held = compile_system(system, **args, gated=frozenset({"UNFILED_REPORTS"}))  # type: ignore[arg-type]
    assert "agg_annual_reports" in full.sql and "agg_annual_reports" not in held.sql
    assert "CAST(0 AS DOUBLE) AS p_unfiled_reports" in held.sql
    to_duckdb(held.sql)  # still one valid statement
    # Nothing gated: the very same statement as before gating existed.
    assert compile_system(system, **args, gated=frozenset()).sql == full.sql  # type: ignore[arg-type]


def _reasons(lake: Lake, month: str) -> dict[str, set[str]]:
    rows = lake.read_parquet(layout.classification_key(month, "42")).to_pylist()
    return {r["uscc"]: {x["code"] for x in r["reasons"]} for r in rows}


def test_missing_report_year_holds_the_indicator_back_until_delivered(local_lake: Lake) -> None:
    """Curated data written without coverage: the run records it first (no manual rebuild)."""
    s = Settings(lake_uri=local_lake.uri)
    write_curated(local_lake, "entities", "42", [entity(1), entity(2)], ingest_id="e1", coverage=False)
    old = [{"uscc": code(1), "year": y, "filed_on": None} for y in (2023, 2024)]
    write_curated(local_lake, "annual_reports", "42", old, ingest_id="r1", coverage=False)
    assert summary(local_lake, "42").datasets == {}
    res = classify_month(local_lake, month="2026-10", province="42", system_id=SYSTEM, settings=s, cutoff=AT)
    assert set(summary(local_lake, "42").datasets) == {"entities", "annual_reports"}
    assert f"{SYSTEM}:UNFILED_REPORTS" in res.manifest["indicators_gated"]
    gaps = {g["requirement"]: g for g in res.manifest["inputs_incomplete"]}
    assert gaps["annual_reports@report_year>=2025"]["gated"] is True
    assert "UNFILED_REPORTS" not in _reasons(local_lake, "2026-10")[code(1)]

    write_curated(
        local_lake, "annual_reports", "42", [{"uscc": code(2), "year": 2025, "filed_on": D(2026, 5, 1)}],
        ingest_id="r2", ingested_at=AT + dt.timedelta(hours=1), coverage=False,
    )  # fmt: skip
    res = classify_month(
        local_lake, month="2026-10", province="42", system_id=SYSTEM, settings=s,
        cutoff=AT + dt.timedelta(hours=2),
    )  # fmt: skip
    assert f"{SYSTEM}:UNFILED_REPORTS" not in res.manifest["indicators_gated"]
    missing = {g["requirement"] for g in res.manifest["inputs_incomplete"]}
    assert "annual_reports@report_year>=2025" not in missing
    assert "UNFILED_REPORTS" in _reasons(local_lake, "2026-10")[code(1)]


def test_held_back_reads_only_gated_requirements_from_a_manifest() -> None:
    manifest = {
        "inputs_incomplete": [
            {"requirement": "annual_reports@report_year>=2025", "read_by": ["m@1:B", "m@1:A"], "gated": True},
            {"requirement": "complaints", "read_by": ["m@1:C"]},  # a run before gating: noted only
        ]
    }
    assert held_back(manifest) == {"annual_reports@report_year>=2025": ["m@1:A", "m@1:B"]}
    assert held_back(None) == {} and held_back({"inputs_incomplete": None}) == {}
