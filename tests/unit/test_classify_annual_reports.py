"""Annual reports as of the period end (samr-general 1.1, ``DatasetSpec.date_is_fulfilment``):
a report filed after the period end was unfiled at it, and only overdue reports count."""

from __future__ import annotations

import datetime as dt

import pytest

from functions import layout
from functions.classify.curated_views import as_of_view
from functions.classify.run import classify_month
from functions.lake import Lake
from functions.settings import Settings
from schemas.datasets import DATASETS
from tests.classify_data import code, entity, write_curated

D = dt.date
CUT = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


def unfiled_points(lake: Lake, month: str) -> dict[int, float]:
    """UNFILED_REPORTS weighted points per entity number for ``month``."""
    result = classify_month(
        lake, month=month, province="13", cutoff=CUT, settings=Settings(lake_uri=lake.uri)
    )
    table = lake.read_parquet(layout.run_classifications_key(result.run_id))
    out = {}
    for n in range(1, 6):
        row = next(r for r in table.to_pylist() if r["uscc"] == code(n))
        out[n] = next((x["points"] for x in row["reasons"] if x["code"] == "UNFILED_REPORTS"), 0.0)
    return out


@pytest.fixture
def reports(local_lake: Lake) -> Lake:
    write_curated(local_lake, "entities", [entity(n) for n in range(1, 6)])
    write_curated(
        local_lake,
        "annual_reports",
        [
            {"uscc": code(1), "year": 2025, "filed_on": D(2026, 5, 1)},  # on time
            {"uscc": code(2), "year": 2025, "filed_on": D(2026, 8, 20)},  # late: filed in August
            {"uscc": code(3), "year": 2025, "filed_on": None},  # never filed
            {"uscc": code(4), "year": 2021, "filed_on": None},  # too old to count
            {"uscc": code(5), "year": 2023, "filed_on": None},  # overdue since mid-2024
        ],
    )
    return local_lake


def test_a_report_filed_after_the_period_end_was_unfiled_at_it(reports: Lake) -> None:
    july = unfiled_points(reports, "2026-07")  # 2025 reports overdue since 30 June 2026
    assert july[1] == 0 and july[4] == 0
    assert july[2] == july[3] == july[5] == pytest.approx(0.08 * 50)
    september = unfiled_points(reports, "2026-09")  # entity 2 has filed by then
    assert september[2] == 0 and september[3] == pytest.approx(0.08 * 50)


def test_reports_not_yet_due_do_not_count(reports: Lake) -> None:
    june = unfiled_points(reports, "2026-06")  # the 2025 reports are due by 30 June: not overdue
    assert june[2] == june[3] == 0
    assert june[5] == pytest.approx(0.08 * 50)  # 2023 was due by 30 June 2024
    assert june[4] == 0  # 2021: outside the last three overdue report years (2022-2024)


def test_the_as_of_view_masks_the_late_date_instead_of_dropping_the_row() -> None:
    sql = as_of_view(
        DATASETS["annual_reports"],
        province="13",
        cutoff=CUT,
        period_end=D(2026, 7, 31),
        single_ingest=True,
    )
    assert "CASE WHEN filed_on <= DATE '2026-07-31' THEN filed_on END AS filed_on" in sql
    assert "filed_on IS NULL OR" not in sql
    penalties = as_of_view(
        DATASETS["penalties"], province="13", cutoff=CUT, period_end=D(2026, 7, 31), single_ingest=True
    )
    assert "decided_on <= DATE '2026-07-31'" in penalties and "CASE WHEN" not in penalties
