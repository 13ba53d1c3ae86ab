"""The report is one self-contained file whose numbers are the stored ones."""

from __future__ import annotations

import re

from functions import layout
from functions.lake import Lake
from functions.report.html import FONT_STACK, num
from functions.settings import Settings
from tests.report_check import NOW, build_month, check_against_partitions, numbers


def test_report_is_self_contained_and_matches_partitions(local_lake: Lake, local_settings: Settings) -> None:
    out = build_month(local_lake, local_settings)
    assert out["report"] == layout.report_key("2026-10", "42")
    html = local_lake.read_bytes(out["report"]).decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert (
        "Noto Sans CJK SC" in FONT_STACK and "WenQuanYi" in FONT_STACK and FONT_STACK.endswith("sans-serif")
    )
    # Nothing fetched from anywhere: no external URLs, no script sources, no stylesheets, no images.
    assert not re.search(r"(src|href)\s*=", html, re.I)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "@import" not in html
    assert "<svg" in html and "湖北" in html and "监测预警" in html
    parsed = numbers(html)
    assert check_against_partitions(local_lake, parsed.values) > 100
    # The shown text is the formatted stored value.
    assert parsed.values["class.A.share"][1].endswith("%")
    # the monthly follow-up also wrote the province's delivery export (ADR 0122)
    assert out["delivery"]["rows"] == 3000 and out["delivery"]["announce_error"] is None
    manifest = local_lake.read_json(layout.delivery_key("42", "2026-10", "manifest.json"))
    assert (manifest["run_id"], manifest["rows"]) == ("r10", 3000)
    assert out["objection_warnings"] == {"raised": 0, "resolved": 0}


def test_number_cells_escape_and_format() -> None:
    assert num("k", 1234) == '<td data-k="k" data-v="1234">1,234</td>'
    assert num("k", 0.1234, "pct") == '<td data-k="k" data-v="0.1234">12.3%</td>'
    assert num("k", None, "pp") == '<td data-k="k" data-v="">—</td>'
    assert num('a"<', -0.05, "pp", tag="b") == '<b data-k="a&quot;&lt;" data-v="-0.05">-5.0 pp</b>'


def test_report_regenerates_idempotently(local_lake: Lake, local_settings: Settings) -> None:
    from functions.report import write_report

    out = build_month(local_lake, local_settings)
    first = local_lake.read_bytes(out["report"])
    key = write_report(local_lake, month="2026-10", province="42", settings=local_settings, now=NOW)
    assert local_lake.read_bytes(key) == first


def test_a_month_analysed_before_adr_0149_still_reports_then_migrates(
    local_lake: Lake, local_settings: Settings
) -> None:
    """Tables only at the legacy keys (``results/analysis/…/<kind>.parquet``): the report
    analyses the month again instead of failing, and the migration then drops the legacy copies
    as superseded."""
    from functions.analysis.migrate import migrate_analysis_tables
    from functions.report import write_report

    out = build_month(local_lake, local_settings)
    first = local_lake.read_bytes(out["report"])
    legacy = {}
    for kind in ("regions", "industries", "migration"):
        new = layout.analysis_table_key(kind, "2026-10", "42")
        legacy[kind] = layout.legacy_analysis_table_key(kind, "2026-10", "42")
        local_lake.write_parquet(legacy[kind], local_lake.read_parquet(new))
        local_lake.delete(new)
    key = write_report(local_lake, month="2026-10", province="42", settings=local_settings, now=NOW)
    assert local_lake.read_bytes(key) == first
    assert all(local_lake.exists(layout.analysis_table_key(k, "2026-10", "42")) for k in legacy)
    done = migrate_analysis_tables(local_lake)
    assert (sorted(done.superseded), done.moved, done.conflicts) == (sorted(legacy.values()), [], [])
    assert not any(local_lake.exists(k) for k in legacy.values())


def test_effectiveness_shows_n_and_intervals_or_insufficient_data() -> None:
    import datetime as dt

    from functions.analysis.effectiveness import evaluate
    from functions.analysis.metrics import histogram
    from functions.report.html import _effectiveness
    from tests.sampling_data import classed_inspections

    rows = classed_inspections(dt.date(2026, 10, 1))  # 40 A (4 problems), 1 D, 2 without a class
    hist = histogram([1.0, 2.0])
    eff = evaluate(rows, hist, hist, "2026-10")
    assert eff["lift_d_over_a"] == 10.0  # the raw ratio rests on one D inspection …
    fg = eff["figures"]
    assert fg["lift_d_over_a"]["value"] is None and fg["lift_d_over_a"]["n"] == 1  # … and is not shown
    assert (
        fg["per_class"]["A"]["value"] == 0.1
        and fg["per_class"]["A"]["low"] < 0.1 < fg["per_class"]["A"]["high"]
    )
    assert fg["unclassified"]["inspections"] == 2
    values = numbers(_effectiveness(eff)).values
    assert values["eff.lift_d_over_a"] == ("", "数据不足 insufficient data")
    assert values["eff.lift_d_over_a.n"][0] == "1" and values["eff.unclassified.inspections"][0] == "2"
    assert values["eff.A.fig"][1] == "10.0%" and "eff.A.fig.low" in values
    assert values["eff.auc"] == ("", "数据不足 insufficient data")  # 5 problems < 10


def test_report_names_the_classification_inputs_that_were_incomplete(
    local_lake: Lake, local_settings: Settings
) -> None:
    """The published manifest's missing inputs and gated indicators appear beside the classes."""
    from functions.report import write_report

    out = build_month(local_lake, local_settings)
    run_id = local_lake.read_json(layout.classification_pointer_key("2026-10", "42"))["run_id"]
    key = f"{layout.run_prefix(run_id)}/manifest.json"
    gap = {
        "requirement": "annual_reports@report_year>=2025",
        "missing": "no annual_reports for report year 2025 or later (delivered: 2024)",
        "read_by": ["samr-general@1.2:UNFILED_REPORTS"],
        "gated": True,
    }
    local_lake.write_json(key, {"run_id": run_id, "inputs_incomplete": [gap]})
    write_report(local_lake, month="2026-10", province="42", settings=local_settings, now=NOW)
    html = local_lake.read_bytes(out["report"]).decode("utf-8")
    assert "classification inputs incomplete" in html
    assert "samr-general@1.2:UNFILED_REPORTS" in html and "(delivered: 2024)" in html


def test_monthly_step_writes_every_countys_page_idempotently(
    local_lake: Lake, local_settings: Settings
) -> None:
    """The monthly follow-up writes one page + CSV per county of the month; a re-run (same
    ``now``) rewrites the same keys with the same bytes."""
    import duckdb

    from functions.report.monthly import after_classification
    from tests.report_check import M, P

    out = build_month(local_lake, local_settings)
    assert out["county_pages"]
    counties = {k.split("county=")[1].split("/")[0] for k in out["county_pages"]}
    cls = local_lake.path(layout.classification_key(M, P))
    con = duckdb.connect()
    sql = f"SELECT DISTINCT substr(region_code, 1, 6) FROM read_parquet('{cls}')"
    expected = {r[0] for r in con.sql(sql).fetchall()}
    con.close()
    assert counties == expected and len(counties) > 1  # every county of the classification
    for key in out["county_pages"]:
        assert local_lake.exists(key) and local_lake.exists(key[: -len("html")] + "csv")
    before = {k: local_lake.read_bytes(k) for k in out["county_pages"]}
    again = after_classification(local_lake, month=M, province=P, settings=local_settings, now=NOW)
    assert again["county_pages"] == out["county_pages"]
    assert {k: local_lake.read_bytes(k) for k in again["county_pages"]} == before
