"""samr-general on a synthetic province, end to end (generate → ingest → classify): the class
shares are plausible and the classes predict later inspection findings out of time — the check
behind the cut-offs in docs/indicator-systems/samr-general.md ("Calibration")."""

from __future__ import annotations

from pathlib import Path

import duckdb

from functions import layout
from functions.analysis.effectiveness import PROBLEM_RESULTS
from functions.analysis.metrics import auc
from functions.classify import classify_month
from functions.generate.generate import generate_province
from functions.ingest.pipeline import ingest_tree
from functions.lake import Lake
from functions.settings import Settings


def test_classes_are_plausible_and_predict_later_findings(tmp_path: Path) -> None:
    generate_province(tmp_path, province="42", entities=30_000, months=24, seed=2026, end_month="2026-11")
    settings = Settings(lake_uri=str(tmp_path), landing_uri=None)
    lake = Lake.from_uri(settings.lake_uri)
    ingest_tree(lake, lake, settings=settings)
    # everything was ingested today: the as-of view keeps records dated up to 31 May only
    result = classify_month(lake, month="2026-05", province="42", settings=settings)
    shares = {c: n / result.rows for c, n in result.counts.items()}
    assert 0.6 < shares["A"] < 0.85 and 0.1 < shares["B"] < 0.35
    assert 0.02 < shares["C"] + shares["D"] < 0.1

    # inspections after the period end, i.e. not seen by the classification
    con = duckdb.connect()
    classes = lake.path(layout.classification_key("2026-05", "42"))
    inspections = lake.path(layout.curated_prefix("inspections", "42"))
    rows = con.execute(
        f"""SELECT c.risk_class, c.risk_score, i.result IN ({", ".join(f"'{r}'" for r in PROBLEM_RESULTS)})
        FROM read_parquet('{inspections}/*/*.parquet') i JOIN read_parquet('{classes}') c USING (uscc)
        WHERE i.inspected_on > DATE '2026-05-31'"""
    ).fetchall()
    assert len(rows) > 300

    def rate(*wanted: str) -> float:
        found = [hit for cls, _, hit in rows if cls in wanted]
        return sum(found) / len(found)

    assert rate("A") < rate("B") < rate("C", "D")
    assert rate("C", "D") > 2 * rate("A")
    assert auc([score for _, score, _ in rows], [hit for _, _, hit in rows]) > 0.6
