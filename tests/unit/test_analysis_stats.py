"""Effectiveness statistics against values computed by hand or published elsewhere."""

from __future__ import annotations

import math

import numpy as np
import pytest

from functions.analysis import stats


def test_wilson_interval_of_5_in_20_matches_the_textbook_value() -> None:
    low, high = stats.wilson(5, 20) or (0.0, 0.0)
    # statsmodels proportion_confint(5, 20, method="wilson") = (0.11186, 0.46870)
    assert low == pytest.approx(0.11186, abs=1e-5) and high == pytest.approx(0.46870, abs=1e-5)
    assert stats.wilson(0, 0) is None
    low0, high0 = stats.wilson(0, 10) or (1.0, 1.0)
    assert low0 == 0.0 and high0 == pytest.approx(0.27753, abs=1e-5)


def test_a_rate_below_the_minimum_is_insufficient_data_but_keeps_its_estimate() -> None:
    small = stats.rate(3, 4)
    assert small["value"] is None and small["estimate"] == 0.75 and not small["sufficient"]
    assert small["n"] == 4 and "insufficient data" in small["note"]
    big = stats.rate(15, 60)
    assert big["value"] == 0.25 and big["sufficient"] and big["low"] < 0.25 < big["high"]


def test_rate_ratio_uses_the_katz_log_interval() -> None:
    f = stats.rate_ratio(10, 40, 5, 50)  # 0.25 / 0.1
    se = math.sqrt(1 / 10 - 1 / 40 + 1 / 5 - 1 / 50)
    assert f["value"] == pytest.approx(2.5)
    assert f["low"] == pytest.approx(2.5 * math.exp(-stats.Z95 * se))
    assert f["high"] == pytest.approx(2.5 * math.exp(stats.Z95 * se))
    # the "lift 11.33 on one D inspection": a figure no more
    one = stats.rate_ratio(1, 1, 3, 34)
    assert one["value"] is None and one["estimate"] == pytest.approx(34 / 3) and one["n"] == 1


@pytest.mark.parametrize(
    ("positives", "negatives", "expected"),
    [
        ([0, 0, 1, 1], [1, 1, 0, 0], 1.0),  # scores 1..4: problems at 3 and 4
        ([1, 0, 1, 0], [0, 1, 0, 1], 0.25),  # problems at 1 and 3, clean at 2 and 4
        ([2], [3], 0.5),  # one tied score
        ([1, 1], [1, 0], 0.75),  # 0.5 (tie at 1) + 1 + 0 … over 2×1 pairs
    ],
)
def test_auc_of_known_rankings(positives: list[int], negatives: list[int], expected: float) -> None:
    assert stats.auc_counts(positives, negatives) == pytest.approx(expected)


def test_auc_matches_the_pairwise_mann_whitney_value_on_the_old_metric() -> None:
    from functions.analysis.metrics import auc as pairwise

    scores = [1, 1, 2, 3, 3, 3, 5, 8, 8, 9]
    hits = [False, True, False, False, True, True, False, True, True, False]
    distinct = sorted(set(scores))
    pos = [sum(1 for s, h in zip(scores, hits, strict=True) if s == d and h) for d in distinct]
    neg = [sum(1 for s, h in zip(scores, hits, strict=True) if s == d and not h) for d in distinct]
    assert stats.auc_counts(pos, neg) == pytest.approx(pairwise(scores, hits))


def test_bootstrap_auc_is_reproducible_and_brackets_the_estimate() -> None:
    pos, neg = [2, 5, 9, 14], [30, 20, 12, 6]
    a = stats.auc(pos, neg, seed=7, replicates=500)
    b = stats.auc(pos, neg, seed=7, replicates=500)
    c = stats.auc(pos, neg, seed=8, replicates=500)
    assert a == b and a["low"] != c["low"]
    assert a["low"] < a["value"] < a["high"] and a["n"] == 98 and a["sufficient"]
    few = stats.auc([1, 2], [3, 4])
    assert few["value"] is None and few["estimate"] is not None


def test_the_auc_bootstrap_in_blocks_draws_what_it_drew_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks bound memory (60k distinct scores x 2,000 replicates was ~6 GB in one matrix);
    the interval must not move with the block size."""
    rng = np.random.default_rng(3)
    pos, neg = rng.integers(0, 3, 400).tolist(), rng.integers(0, 6, 400).tolist()
    whole = stats.auc(pos, neg, seed=11, replicates=300)
    monkeypatch.setattr(stats, "BOOTSTRAP_CELLS_PER_BLOCK", 800 * 7)  # blocks of 7 replicates
    assert stats.auc(pos, neg, seed=11, replicates=300) == whole
    monkeypatch.setattr(stats, "BOOTSTRAP_CELLS_PER_BLOCK", 1)  # one replicate at a time
    assert stats.auc(pos, neg, seed=11, replicates=300) == whole


def test_precision_in_the_top_share_breaks_ties_by_expectation() -> None:
    cells = [(10.0, 2, 2), (5.0, 4, 1), (1.0, 4, 0)]
    f = stats.precision_at(cells, 0.3)  # top 3: both 10s and a quarter of a problem among the 5s
    assert f["n"] == 3 and f["estimate"] == pytest.approx(2.25 / 3)
    assert f["overall_rate"] == pytest.approx(0.3) and f["lift"] == pytest.approx(2.5)
    assert f["value"] is None  # 3 < MIN_RATE_N


def test_psi_over_named_bands() -> None:
    value = stats.psi({"A": 50, "B": 50}, {"A": 25, "B": 75}, ["A", "B"])
    assert value == pytest.approx(-0.25 * math.log(0.5) + 0.25 * math.log(1.5))
    assert stats.psi({}, {"A": 1}, ["A"]) is None
    assert stats.psi_band(0.05) == "stable" and stats.psi_band(0.3) == "major shift"


def test_random_order_replay_of_one_problem_on_two_days() -> None:
    # two inspections on days 0 and 1, the problem found on day 0: a random order finds it on
    # day 0 or day 1, i.e. 0 or −1 days "earlier", −0.5 on average
    mean, low, high = stats.replay_random([([1, 1], 1, 0.0)], seed=1, replicates=400) or (0, 0, 0)
    assert mean == pytest.approx(-0.5) and low == -1.0 and high == 0.0
    assert stats.replay_random([([3], 0, 0.0)]) is None
