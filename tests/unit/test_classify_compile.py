"""The compiler on a hand-made system: every aggregate, both scorings, target shares, rule
precedence and the reasons order, checked against values computed by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from functions import layout
from functions.classify.load import parse_system
from functions.classify.run import classify_month
from functions.lake import Lake
from functions.settings import Settings
from tests.classify_data import code, entity, write_curated

D = dt.date
CUT = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
MARCH = D(2026, 3, 1)

SYSTEM = """\
id: test-all-aggregates
version: "2.1"
title_zh: 测试
title_en: test
entity_types: [enterprise, cooperative]
indicators:
  - code: REG
    label_zh: 监管
    label_en: regulatory
    dimension: regulatory
    weight: 0.8
    children:
      - {code: N_PEN, label_zh: 处罚数, label_en: penalties, weight: 0.25,
         definition: {dataset: penalties, aggregate: count, window_months: 12},
         scoring: {linear: {slope: 10, cap: 100}}}
      - {code: SUM_AMT, label_zh: 金额, label_en: amount, weight: 0.25,
         definition: {dataset: penalties, aggregate: sum, expression: "coalesce(amount, 0) / 1000",
                      window_months: 12},
         scoring: {bins: [{min: 0, max: 5, points: 0}, {min: 5, points: 100}]}}
      - {code: MAX_AMT, label_zh: 最大, label_en: max amount, weight: 0.25,
         definition: {dataset: penalties, aggregate: max, expression: "amount", window_months: 12},
         scoring: {bins: [{min: 0, max: 3000, points: 0}, {min: 3000, points: 50}]}}
      - {code: N_AUTH, label_zh: 机关数, label_en: authorities, weight: 0.25,
         definition: {dataset: penalties, aggregate: count_distinct, expression: "authority"},
         scoring: {linear: {slope: 50, offset: 1, cap: 100}}}
  - code: REL
    label_zh: 关联
    label_en: relations
    dimension: relationship
    weight: 0.2
    children:
      - {code: LEFT, label_zh: 退出, label_en: left, weight: 1.0,
         definition: {dataset: relationships, aggregate: count, date_column: until, window_months: 6},
         scoring: {linear: {slope: 100, cap: 100}}}
rules:
  - {code: AT_LEAST_B, label: any penalty, when: "N_PEN >= 1", class: B}
  - {code: SET_A, label: override, when: "N_AUTH >= 3", class: A, mode: set}
classes:
  method: shares
  shares: {A: 0.5, B: 0.25, C: 0.25, D: 0}
"""


def pen(
    n: int, i: int, amount: float | None, authority: str = "甲", decided: dt.date = MARCH
) -> dict[str, Any]:
    return {"decision_no": f"P{n}-{i}", "uscc": code(n), "decided_on": decided, "authority": authority,
            "domain": "food", "kind": "fine", "amount": amount}  # fmt: skip


def test_all_aggregates_shares_and_precedence(local_lake: Lake, tmp_path: Any) -> None:
    path = tmp_path / "sys.yaml"
    path.write_text(SYSTEM, encoding="utf-8")
    assert parse_system(SYSTEM).model_ref == "test-all-aggregates@2.1"
    write_curated(local_lake, "entities", [
        entity(1), entity(2), entity(3), entity(4, entity_type="cooperative"),
        entity(5, entity_type="individual"),  # not covered by the system
    ])  # fmt: skip
    write_curated(local_lake, "penalties", [
        pen(2, 0, 2500.0), pen(2, 1, 3500.0, "乙"), pen(2, 2, None, decided=D(2025, 1, 1)),
        pen(3, 0, 100.0, "甲"), pen(3, 1, 100.0, "乙"), pen(3, 2, 100.0, "丙"),
    ])  # fmt: skip
    write_curated(local_lake, "relationships", [
        {"uscc": code(4), "party_id": "x", "relation": "executive", "until": D(2026, 2, 1)},
        {"uscc": code(4), "party_id": "y", "relation": "executive", "until": D(2025, 12, 31)},
        {"uscc": code(4), "party_id": "z", "relation": "executive", "until": D(2026, 7, 1)},
        {"uscc": code(1), "party_id": "w", "relation": "executive", "until": D(2024, 1, 1)},
    ])  # fmt: skip
    classify_month(local_lake, month="2026-06", province="13", system_id=str(path), cutoff=CUT,
                   settings=Settings(lake_uri=local_lake.uri))  # fmt: skip
    rows = {
        r["uscc"]: r for r in local_lake.read_parquet(layout.classification_key("2026-06", "13")).to_pylist()
    }
    assert code(5) not in rows and len(rows) == 4
    # entity 2: 2 penalties in window (10 pts each → 20), sum 6.0k → 100, max 3500 → 50,
    # 2 distinct authorities over all time (no window) → (2-1)*50 = 50: 0.2*(20+100+50+50) = 44
    e2 = rows[code(2)]
    assert e2["risk_score"] == 44.0
    assert e2["dimension_scores"]["regulatory"] == 44.0
    assert [r["code"] for r in e2["reasons"]] == ["SUM_AMT", "MAX_AMT", "N_AUTH", "N_PEN"]  # ties by code
    assert [r["points"] for r in e2["reasons"]] == [20.0, 10.0, 10.0, 4.0]
    # entity 3: 3 penalties (30 pts) + 3 authorities (100): 0.2*(30+100) = 26; SET_A overrides
    e3 = rows[code(3)]
    assert e3["risk_score"] == 26.0 and e3["risk_class"] == "A" and e3["rules"] == ["AT_LEAST_B", "SET_A"]
    # entity 4: leavers in (2025-12-31, 2026-06-30] by `until`: one (x) → 100 pts × 0.2 = 20
    e4 = rows[code(4)]
    assert e4["risk_score"] == 20.0 and e4["dimension_scores"]["relationship"] == 20.0
    # shares by score rank: 0 (e1) → cume 0.25 ≤ .5 → A; 20 (e4) → .5 → A; 26 → .75 → B (but set A);
    # 44 → 1.0 → C; at-least B for e2 does not lower C
    assert rows[code(1)]["risk_class"] == "A" and rows[code(1)]["risk_score"] == 0.0  # old leaver only
    assert rows[code(4)]["risk_class"] == "A"
    assert e2["risk_class"] == "C" and e2["rules"] == ["AT_LEAST_B"]


def test_rows_outside_every_window_are_dropped_before_the_group_by() -> None:
    """relationships are read only in LEFT's window; penalties also feed N_AUTH, which reads the
    whole history, so they are not filtered (the values are checked in the test above)."""
    from functions.classify.compile import compile_system

    sql = compile_system(parse_system(SYSTEM), month="2026-06", province="13", cutoff=CUT, run_id="r").sql
    rel = sql[sql.index("agg_relationships AS (") :].split("\n", 1)[0]
    assert (
        "FROM relationships WHERE (until > DATE '2025-12-31' AND until <= DATE '2026-06-30') GROUP BY" in rel
    )
    # six whole months: 31 December is outside, 1 January inside (not "30 June − 6 = 30 December")
    assert "until > DATE '2025-12-31' AND until <= DATE '2026-06-30' THEN 1" in rel
    pen_agg = sql[sql.index("agg_penalties AS (") :].split("\n", 1)[0]
    assert "FROM penalties GROUP BY uscc" in pen_agg


def seed_corrections(lake: Lake) -> None:
    """Records whose correction flips what the indicators' conditions take: a penalty withdrawn
    and one un-withdrawn, one repaired; an inspection's result changed both ways; a dishonesty
    record moved from general to serious and one removed; an annual report filed late; an
    abnormal-list entry removed; a complaint substantiated."""
    write_curated(lake, "entities", [entity(i) for i in range(1, 9)])
    first: dict[str, list[dict[str, Any]]] = {
        "penalties": [
            {"decision_no": "P1", "uscc": code(1), "decided_on": MARCH, "authority": "甲", "domain": "food",
             "kind": "order_suspension", "amount": 10.0},
            {"decision_no": "P2", "uscc": code(2), "decided_on": MARCH, "authority": "甲", "domain": "food",
             "kind": "fine", "amount": 10.0, "withdrawn": True},
            {"decision_no": "P3", "uscc": code(3), "decided_on": MARCH, "authority": "甲", "domain": "food",
             "kind": "fine", "amount": 10.0},
        ],
        "inspections": [
            {"inspection_id": "I1", "uscc": code(4), "inspected_on": MARCH, "domain": "food",
             "result": "problem_found"},
            {"inspection_id": "I2", "uscc": code(5), "inspected_on": MARCH, "domain": "food",
             "result": "no_problem"},
        ],
        "other_dishonesty": [
            {"record_id": "O1", "uscc": code(6), "recorded_on": MARCH, "severity": "general",
             "category": "x", "source": "y"},
            {"record_id": "O2", "uscc": code(7), "recorded_on": MARCH, "severity": "serious",
             "category": "x", "source": "y"},
        ],
        "annual_reports": [{"uscc": code(8), "year": 2024, "filed_on": None}],
        "abnormal_list": [{"record_id": "A1", "uscc": code(1), "listed_on": MARCH, "reason": "unreachable"}],
        "complaints": [{"complaint_id": "Q1", "uscc": code(2), "received_on": MARCH, "kind": "complaint",
                        "substantiated": False}],
    }  # fmt: skip
    later = {
        "penalties": [
            {**first["penalties"][0], "withdrawn": True},
            {**first["penalties"][1], "withdrawn": False},
            {**first["penalties"][2], "repaired_on": D(2026, 5, 1)},
        ],
        "inspections": [
            {**first["inspections"][0], "result": "no_problem"},
            {**first["inspections"][1], "result": "refused"},
        ],
        "other_dishonesty": [
            {**first["other_dishonesty"][0], "severity": "serious"},
            {**first["other_dishonesty"][1], "removed_on": D(2026, 4, 1)},
        ],
        "annual_reports": [{**first["annual_reports"][0], "filed_on": D(2025, 9, 1)}],
        "abnormal_list": [{**first["abnormal_list"][0], "removed_on": D(2026, 4, 1)}],
        "complaints": [{**first["complaints"][0], "substantiated": True}],
    }
    for dataset, rows in first.items():
        write_curated(lake, dataset, rows, ingest_id="i1", ingested_at=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))
        write_curated(
            lake, dataset, later[dataset], ingest_id="i2", ingested_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
        )


def _without_row_filters(sql: str) -> str:
    """The statement with every aggregation's pre-filter removed (one CTE per line)."""
    import re

    pattern = re.compile(r"^(agg_\w+ AS \(SELECT uscc, .* FROM \w+) WHERE .* (GROUP BY uscc\),?)$", re.M)
    return pattern.sub(r"\1 \2", sql)


@pytest.mark.parametrize("system_id", ["samr-general", "langfang-public-credit"])
@pytest.mark.parametrize("ranked", [True, False])
def test_dropping_rows_no_indicator_takes_changes_no_result(
    local_lake: Lake, system_id: str, ranked: bool
) -> None:
    """The pre-filter (ADR 0030: the windows' span and, when every indicator over a dataset has
    one, their conditions) gives exactly the rows of the unfiltered statement, also when a
    correction moves a record into or out of a condition."""
    import dataclasses

    from functions.classify.compile import compile_system, datasets_read
    from functions.classify.engine_duckdb import run_duckdb
    from functions.classify.load import load_system
    from functions.classify.run import ingest_plan, input_files

    seed_corrections(local_lake)
    system = load_system(system_id)
    read = datasets_read(system)
    plan = ingest_plan(input_files(local_lake, "13", read), read, CUT) if ranked else None
    compiled = compile_system(system, month="2026-06", province="13", cutoff=CUT, run_id="r", ingests=plan)
    bare = _without_row_filters(compiled.sql)
    filtered = [line for line in compiled.sql.splitlines() if line.startswith("agg_") and " WHERE " in line]
    assert filtered and " WHERE " not in "".join(x for x in bare.splitlines() if x.startswith("agg_"))
    expected = run_duckdb(local_lake, dataclasses.replace(compiled, sql=bare))
    assert expected.num_rows == 8
    assert run_duckdb(local_lake, compiled).equals(expected)
