"""The backtest's engine statements on hand-made tables, and its pure summary."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from functions.analysis import backtest as bt
from functions.errors import InvalidInput
from functions.warnings.compile import to_duckdb

D = dt.date


def _con() -> Any:
    con = duckdb.connect()
    classes = pa.table(
        {
            "month": ["2026-03"] * 4 + ["2026-04"] * 4 + ["2026-03"],
            "province": ["42"] * 8 + ["13"],
            "uscc": ["u1", "u2", "u3", "u4"] * 2 + ["u1"],
            "risk_class": ["A", "B", "C", "D", "A", "A", "D", "D", "D"],
            "risk_score": [1.0, 6.0, 20.0, 40.0, 1.0, 2.0, 30.0, 45.0, 99.0],
            "model": ["m@1"] * 9,
        }
    )
    inspections = pa.table(
        {
            "inspection_id": ["i1", "i2", "i3", "i4", "i5", "i6", "i7"],
            "uscc": ["u1", "u2", "u3", "u4", "u9", "u3", "u4"],
            "inspected_on": [
                D(2026, 4, 2),
                D(2026, 4, 3),
                D(2026, 4, 10),
                D(2026, 4, 20),
                D(2026, 4, 21),
                D(2026, 5, 5),
                D(2026, 5, 6),
            ],
            "result": [
                "no_problem",
                "problem_found",
                "corrected",
                "refused",
                "problem_found",
                "no_problem",
                "not_at_address",
            ],
        }
    )
    con.register("classifications", classes)
    con.register("inspections", inspections)
    return con


def _rows(con: Any, sql: str) -> list[dict[str, Any]]:
    t = con.sql(to_duckdb(sql)).to_arrow_table()
    return sorted(t.to_pylist(), key=lambda r: tuple(str(v) for v in r.values()))


def test_each_inspection_takes_the_class_of_the_month_before_and_unclassified_ones_are_kept() -> None:
    con = _con()
    rows = _rows(con, bt.class_counts_sql("42", ["2026-03", "2026-04"]))
    got = {(r["class_month"], r["risk_class"]): (r["n"], r["problems"]) for r in rows}
    assert got == {
        ("2026-03", "A"): (1, 0),
        ("2026-03", "B"): (1, 1),
        ("2026-03", "C"): (1, 1),
        ("2026-03", "D"): (1, 1),
        ("2026-03", bt.NO_CLASS): (1, 1),  # u9 had no class: counted, not dropped
        ("2026-04", "D"): (2, 1),  # u3 and u4 in April's classification
    }
    out = bt.per_class(rows)
    assert out["inspections"] == 7 and out["unclassified"]["inspections"] == 1
    assert out["per_class"]["D"]["n"] == 3 and out["per_class"]["D"]["problems"] == 2


def test_replay_pairs_give_the_k_th_actual_date_to_the_k_th_by_score() -> None:
    con = _con()
    pairs = _rows(con, bt.replay_pairs_sql("42", ["2026-03"]))
    # April: by score u4 (40), u3 (20), u2 (6), u1 (1) take 2, 3, 10, 20 April
    got = {(r["actual_on"], r["replay_on"]): r["problems"] for r in pairs}
    assert got == {(D(2026, 4, 20), D(2026, 4, 2)): 1, (D(2026, 4, 10), D(2026, 4, 3)): 1,
                   (D(2026, 4, 3), D(2026, 4, 10)): 1}  # fmt: skip
    dates = _rows(con, bt.date_counts_sql("42", ["2026-03"]))
    cells = _rows(con, bt.score_cells_sql("42", ["2026-03"]))
    agg = bt.Aggregates(("2026-03",), [], cells, dates, pairs)
    rp = bt.replay(agg, seed=1, replicates=300)
    assert rp["days_earlier"]["estimate"] == pytest.approx((18 + 7 - 7) / 3)
    assert rp["days_earlier"]["value"] is None  # 3 problems < the minimum
    assert rp["random_order"]["low"] <= rp["random_order"]["mean"] <= rp["random_order"]["high"]


def test_cut_off_bands_and_psi_against_previous_and_reference() -> None:
    con = _con()
    from functions.classify.load import load_system

    system = load_system("samr-general@1.1")  # cut-offs 5/12/25
    rows = _rows(con, bt.band_counts_sql("42", ["2026-03", "2026-04"], system))
    got = {(r["month"], r["band"]): r["n"] for r in rows}
    assert got == {("2026-03", "A"): 1, ("2026-03", "B"): 1, ("2026-03", "C"): 1, ("2026-03", "D"): 1,
                   ("2026-04", "A"): 2, ("2026-04", "D"): 2}  # fmt: skip
    table = bt.psi_table(rows, ["2026-04"], "2026-03")
    april = table["months"][0]
    assert april["psi_previous"] == april["psi_reference"] and april["psi_previous"] > 0.25
    assert april["shares"] == {"A": 0.5, "B": 0.0, "C": 0.0, "D": 0.5}


def test_month_range_refuses_bad_windows() -> None:
    assert bt.month_range("2026-11", "2027-02") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    for first, last in (("2026-13", "2027-01"), ("2026-05", "2026-04"), ("2020-01", "2026-01")):
        with pytest.raises(InvalidInput):
            bt.month_range(first, last)


def test_summary_is_deterministic_for_a_seed_and_renders() -> None:
    con = _con()
    months = ["2026-03", "2026-04"]
    agg = bt.Aggregates(
        tuple(months),
        _rows(con, bt.class_counts_sql("42", months)),
        _rows(con, bt.score_cells_sql("42", months)),
        _rows(con, bt.date_counts_sql("42", months)),
        _rows(con, bt.replay_pairs_sql("42", months)),
    )
    a, b = bt.summarise(agg, seed=3, replicates=200), bt.summarise(agg, seed=3, replicates=200)
    assert a == b
    a.update(province="42", first="2026-03", last="2026-04", model="m@1",
             psi={"reference": None, "months": []})  # fmt: skip
    text = bt.render_text(a)
    assert "without a class: 1" in text and "insufficient data (n=1)" in text
    assert text.startswith("backtest 42 2026-03..2026-04 (m@1)")
    assert bt.render_text({**a, "field": "food"}).startswith("backtest 42 field food 2026-03..2026-04 (m@1)")


def test_a_system_counts_as_published_only_with_the_same_content(local_lake: Any) -> None:
    from functions import layout
    from functions.classify.load import load_system

    system = load_system("samr-general@1.1")
    key = layout.classification_pointer_key("2026-06", "42")
    local_lake.write_json(key, {"model": system.model_ref, "model_hash": system.content_hash()})
    assert bt.published_with(local_lake, "42", ["2026-06"], system)
    local_lake.write_json(key, {"model": system.model_ref, "model_hash": "0" * 64})  # edited, same version
    assert not bt.published_with(local_lake, "42", ["2026-06"], system)
    food = load_system("food")
    field_key = layout.field_classification_pointer_key("food", "2026-06", "42")
    local_lake.write_json(field_key, {"model": food.model_ref, "model_hash": "0" * 64})
    assert bt.published_with(local_lake, "42", ["2026-06"], food)  # the general pointer names another model
    assert not bt.published_with(local_lake, "42", ["2026-06"], food, field="food")


def test_a_field_backtest_reads_its_partition_against_its_own_inspections() -> None:
    """docs/adr/0154: the field's classes, named at the scan, meet only the field's domains."""
    from schemas.fields import FIELDS

    table = bt.field_results("food")
    domains = ", ".join(f"'{d}'" for d in FIELDS["food"].domains)
    for sql in (bt.class_counts_sql("42", ["2026-05"], table), bt.replay_pairs_sql("42", ["2026-05"], table)):
        assert "FROM field_classifications\n  WHERE field = 'food' AND province = '42'" in sql
        assert (
            f"inspected_on BETWEEN DATE '2026-06-01' AND DATE '2026-06-30' AND domain IN ({domains})" in sql
        )
    assert "field = 'food'" in bt.models_sql("42", table)
    assert "domain IN" not in bt.class_counts_sql("42", ["2026-05"])  # the general class: every domain
    with pytest.raises(InvalidInput, match="unknown field 'special-equipment'"):
        bt.field_results("special-equipment")  # a system id, not a field name
