"""Effectiveness: metrics against hand computations, plan vs fallback classes, the replay."""

from __future__ import annotations

import datetime as dt

import pytest

from functions import layout
from functions.analysis import metrics
from functions.analysis.effectiveness import effectiveness, replay
from functions.lake import Lake
from tests.warnings_data import code, publish_classification, write_curated

P = "42"
PLAN = "42-" + "ab" * 10


def test_auc_matches_pairwise_definition() -> None:
    scores = [10.0, 35.0, 35.0, 60.0, 90.0, 90.0]
    pos = [False, True, False, False, True, True]
    pairs = [
        (s, t)
        for s, p in zip(scores, pos, strict=True)
        if p
        for t, q in zip(scores, pos, strict=True)
        if not q
    ]
    want = sum(1.0 if s > t else 0.5 if s == t else 0.0 for s, t in pairs) / len(pairs)
    assert metrics.auc(scores, pos) == pytest.approx(want)
    assert metrics.auc([1.0, 2.0], [True, True]) is None


def test_psi() -> None:
    same = [5.0, 15.0, 25.0, 95.0, 100.0]
    assert metrics.psi(same, same) == pytest.approx(0.0)
    shifted = metrics.psi([5.0] * 50 + [95.0] * 50, [5.0] * 10 + [95.0] * 90)
    want = (0.1 - 0.5) * __import__("math").log(0.1 / 0.5) + (0.9 - 0.5) * __import__("math").log(0.9 / 0.5)
    assert shifted == pytest.approx(want)
    assert metrics.psi_band(shifted) == "major shift" and metrics.psi([], same) is None


def test_expected_found_in_top_handles_ties() -> None:
    # Top 3 of: 90(p), 60(p), 60(n), 60(n), 10(p) → 1 + 2 × (1/3) = 1.667
    got = metrics.expected_found_in_top([90.0, 60.0, 60.0, 60.0, 10.0], [True, True, False, False, True], 3)
    assert got == pytest.approx(1 + 2 / 3)


def test_replay_counts_the_first_half() -> None:
    d = dt.date
    rows = [
        {"inspection_id": f"i{k}", "inspected_on": d(2026, 10, k + 1), "risk_score": s, "problem": p}
        for k, (s, p) in enumerate(
            [(10.0, False), (20.0, False), (30.0, False), (80.0, True), (90.0, True), (5.0, False)]
        )
    ]
    r = replay(rows)
    assert (
        r["first_half"] == 3 and r["share_first_half_by_score"] == 1.0 and r["share_first_half_actual"] == 0.0
    )
    # Score order puts the problems (actual days 5 and 4) on days 1 and 2: 3 and 2 days earlier.
    assert r["mean_days_earlier"] == pytest.approx(3.0)


def test_effectiveness_uses_plan_class_then_falls_back(local_lake: Lake) -> None:
    publish_classification(
        local_lake,
        "2026-09",
        P,
        [
            {"uscc": code(1), "risk_class": "A"},
            {"uscc": code(2), "risk_class": "D"},
            {"uscc": code(3), "risk_class": "D"},
            {"uscc": code(4), "risk_class": "A"},
        ],
    )
    publish_classification(
        local_lake, "2026-10", P, [{"uscc": code(i), "risk_class": "B"} for i in range(1, 5)]
    )
    local_lake.write_json(
        layout.plan_key(P, PLAN),
        {
            "plan_id": PLAN,
            "month": "2026-09",
            "province": P,
            "run_id": "run-2026-09",
            "targets": [{"uscc": code(1), "risk_class": "A"}, {"uscc": code(2), "risk_class": "D"}],
        },
    )
    d = dt.date
    write_curated(
        local_lake,
        "inspections",
        P,
        [
            {
                "inspection_id": "x1",
                "uscc": code(1),
                "inspected_on": d(2026, 10, 3),
                "plan_id": PLAN,
                "domain": "food",
                "result": "no_problem",
            },
            {
                "inspection_id": "x2",
                "uscc": code(2),
                "inspected_on": d(2026, 10, 4),
                "plan_id": PLAN,
                "domain": "food",
                "result": "problem_found",
            },
            {
                "inspection_id": "x3",
                "uscc": code(3),
                "inspected_on": d(2026, 10, 5),
                "domain": "food",
                "result": "refused",
            },
            {
                "inspection_id": "x4",
                "uscc": code(4),
                "inspected_on": d(2026, 10, 6),
                "plan_id": "42-" + "cd" * 10,
                "domain": "food",
                "result": "corrected",
            },
            {
                "inspection_id": "x5",
                "uscc": code(9),
                "inspected_on": d(2026, 10, 7),
                "domain": "food",
                "result": "no_problem",
            },
            {
                "inspection_id": "x6",
                "uscc": code(1),
                "inspected_on": d(2026, 9, 30),
                "domain": "food",
                "result": "problem_found",
            },
        ],
    )
    out = effectiveness(local_lake, month="2026-10", province=P)
    assert out["inspections"] == 5 and out["problems"] == 3
    assert out["class_sources"] == {"none": 1, "plan": 2, "previous_month_classification": 2}
    assert out["per_class"]["D"] == {"inspections": 2, "problems": 2, "rate": 1.0}
    assert out["per_class"]["A"] == {"inspections": 2, "problems": 1, "rate": 0.5}
    assert out["lift_d_over_a"] == pytest.approx(2.0)
    # Scores: A=10 (no), D=90 (yes), D=90 (yes), A=10 (yes) → AUC = 5/6... pairs: (90,10)x2 wins, (10,10) tie
    assert out["auc"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert out["auc_inspections"] == 4
    assert out["psi"] is not None and out["psi"] > 0.25  # every score moved to 35
    assert out["replay"]["share_first_half_by_score"] == pytest.approx(2 / 3)
