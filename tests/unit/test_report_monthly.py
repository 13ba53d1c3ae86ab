"""The monthly run's printed summary: effectiveness with n and intervals, never a bare ratio."""

from __future__ import annotations

import datetime as dt

from functions.analysis.effectiveness import evaluate
from functions.analysis.metrics import histogram
from functions.report.monthly import effectiveness_line
from tests.sampling_data import classed_inspections


def test_effectiveness_line_shows_n_and_no_bare_ratio() -> None:
    rows = classed_inspections(dt.date(2026, 10, 1))  # 40 A (4 problems), 1 D, 2 without a class
    hist = histogram([1.0, 2.0])
    eff = evaluate(rows, hist, hist, "2026-10")
    eff["psi_cutoff_bands"] = {
        "psi_previous": 0.0051,
        "psi_previous_band": "stable",
        "psi_reference": 0.2712,
        "psi_reference_band": "shift",
        "reference": "2026-03",
    }
    line = effectiveness_line(eff)
    assert eff["lift_d_over_a"] == 10.0 and "10.00" not in line  # one D inspection: not shown
    assert "lift D/A insufficient data (n=1)" in line
    assert "AUC insufficient data (n=41)" in line and "2 without a class" in line
    assert "0.005 (stable) vs last month, 0.271 (shift) vs 2026-03" in line


def test_effectiveness_line_gives_the_interval_when_n_suffices() -> None:
    rows = classed_inspections(dt.date(2026, 10, 1))
    eff = evaluate(rows, None, None, "2026-10")
    eff["figures"]["auc"].update(value=0.693, low=0.577, high=0.804, n=122, sufficient=True)
    line = effectiveness_line(eff)
    assert "AUC 0.69 [0.58–0.80] n=122" in line and line.endswith("PSI on the cut-off bands —")
