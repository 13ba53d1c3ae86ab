"""Effectiveness statistics with their sample sizes and intervals (pure; numpy only).

Every figure is a :func:`figure` dict: the estimate, ``n``, a 95 % interval and whether ``n``
is large enough to show it at all (below the documented minimum the report and the CLI say
"insufficient data" instead of a number; docs/analysis.md, ADR 0106). The inputs are
aggregates the engine computed (counts per class, per score value, per inspection date), never
the inspections themselves, so the same functions serve a month's report and a backtest over
a 20M-entity province.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Z95 = 1.959963984540054
# Minimum sample sizes below which a figure is "insufficient data" (docs/analysis.md).
MIN_RATE_N = 30  # inspections behind a discovery rate (each class of a lift)
MIN_AUC_EACH = 10  # inspections with and without a problem behind an AUC
MIN_REPLAY_PROBLEMS = 10  # problems behind a "days earlier" replay
BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_CELLS_PER_BLOCK = 2_000_000  # count cells drawn at once in the AUC bootstrap (~16 MB each)
DEFAULT_SEED = 20260316
PSI_EPS = 1e-4


def figure(
    value: float | None,
    n: int,
    low: float | None,
    high: float | None,
    *,
    minimum: int,
    basis: str,
    sufficient: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One shown number: ``value`` is None (and ``note`` says why) when the data are too few."""
    ok = (n >= minimum) if sufficient is None else sufficient
    ok = ok and value is not None
    return {
        "value": value if ok else None,
        "estimate": value,
        "n": n,
        "low": low,
        "high": high,
        "sufficient": ok,
        "minimum": minimum,
        "basis": basis,
        "note": None if ok else f"insufficient data ({basis})",
        **extra,
    }


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for ``k`` successes in ``n`` trials (None when n = 0)."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate(k: int, n: int) -> dict[str, Any]:
    """A discovery rate ``k / n`` with its Wilson interval."""
    ci = wilson(k, n)
    return figure(
        k / n if n else None,
        n,
        ci[0] if ci else None,
        ci[1] if ci else None,
        minimum=MIN_RATE_N,
        basis=f"{n} inspections, at least {MIN_RATE_N} needed",
        problems=k,
    )


def rate_ratio(k1: int, n1: int, k0: int, n0: int, z: float = Z95) -> dict[str, Any]:
    """``(k1/n1) / (k0/n0)`` (e.g. lift D over A) with the Katz log interval.

    Sufficient only when both groups have ``MIN_RATE_N`` inspections and a problem each (a zero
    makes the ratio or its interval unbounded)."""
    n = min(n1, n0)
    value = (k1 / n1) / (k0 / n0) if n1 and n0 and k0 else None
    low = high = None
    if value is not None and k1 > 0:
        se = math.sqrt(1 / k1 - 1 / n1 + 1 / k0 - 1 / n0)
        low, high = value * math.exp(-z * se), value * math.exp(z * se)
    ok = n1 >= MIN_RATE_N and n0 >= MIN_RATE_N and k1 > 0 and k0 > 0
    return figure(
        value,
        n,
        low,
        high,
        minimum=MIN_RATE_N,
        sufficient=ok,
        basis=f"{n1} and {n0} inspections with {k1} and {k0} problems; at least {MIN_RATE_N} "
        "inspections and 1 problem needed in each",
        n_numerator=n1,
        n_denominator=n0,
    )


def _auc_rows(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """AUC of each row of count matrices (columns = distinct scores, ascending); NaN if empty."""
    p_tot, n_tot = pos.sum(axis=-1), neg.sum(axis=-1)
    below = np.cumsum(neg, axis=-1) - neg  # negatives with a strictly lower score
    wins = (pos * (below + 0.5 * neg)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((p_tot > 0) & (n_tot > 0), wins / (p_tot * n_tot), np.nan)


def auc_counts(positives: Sequence[int], negatives: Sequence[int]) -> float | None:
    """ROC AUC (Mann–Whitney, ties count half) from counts per distinct score, ascending."""
    v = float(_auc_rows(np.asarray(positives, float), np.asarray(negatives, float)))
    return None if math.isnan(v) else v


def auc(
    positives: Sequence[int],
    negatives: Sequence[int],
    *,
    seed: int = DEFAULT_SEED,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> dict[str, Any]:
    """AUC with a percentile bootstrap interval over inspections (seeded: reproducible).

    Resampling inspections with replacement is a multinomial draw over the (score, outcome)
    cells, so the bootstrap needs only the cell counts."""
    pos, neg = np.asarray(positives, np.int64), np.asarray(negatives, np.int64)
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    value = auc_counts(pos.tolist(), neg.tolist())
    low = high = None
    n = n_pos + n_neg
    if value is not None:
        rng = np.random.default_rng(seed)
        cells = np.concatenate([pos, neg]).astype(float)
        k = len(pos)
        # replicates in blocks: memory O(block x cells), not O(replicates x cells) (~6 GB for
        # 60k distinct scores); rows are drawn one after another, so blocks give the same draws
        block = max(1, min(replicates, BOOTSTRAP_CELLS_PER_BLOCK // max(1, len(cells))))
        parts = []
        for start in range(0, replicates, block):
            draws = rng.multinomial(n, cells / n, size=min(block, replicates - start))
            parts.append(_auc_rows(draws[:, :k].astype(float), draws[:, k:].astype(float)))
        aucs = np.concatenate(parts)
        aucs = aucs[~np.isnan(aucs)]
        if len(aucs):
            low, high = (float(x) for x in np.quantile(aucs, [0.025, 0.975]))
    return figure(
        value,
        n,
        low,
        high,
        minimum=MIN_AUC_EACH,
        sufficient=n_pos >= MIN_AUC_EACH and n_neg >= MIN_AUC_EACH,
        basis=f"{n_pos} inspections with and {n_neg} without a problem; at least "
        f"{MIN_AUC_EACH} of each needed",
        problems=n_pos,
        replicates=replicates,
        seed=seed,
    )


def expected_in_top(cells: Sequence[tuple[float, int, int]], k: int) -> float:
    """Expected problems among the ``k`` highest-scored inspections, ties broken at random.

    ``cells``: (score, inspections, problems) per distinct score."""
    found, left = 0.0, k
    for _, n, p in sorted(cells, key=lambda c: -c[0]):
        if left <= 0:
            break
        take = min(left, n)
        found += p * take / n if n else 0.0
        left -= take
    return found


def precision_at(cells: Sequence[tuple[float, int, int]], share: float) -> dict[str, Any]:
    """Finding rate among the top ``share`` of inspections by score (ties by expectation),
    with a Wilson interval and the lift over the overall rate."""
    total = sum(n for _, n, _ in cells)
    problems = sum(p for _, _, p in cells)
    k = math.ceil(share * total) if total else 0
    found = expected_in_top(cells, k)
    ci = wilson(round(found), k)
    base = problems / total if total else None
    value = found / k if k else None
    return figure(
        value,
        k,
        ci[0] if ci else None,
        ci[1] if ci else None,
        minimum=MIN_RATE_N,
        basis=f"top {share:.0%} = {k} of {total} inspections, at least {MIN_RATE_N} needed",
        share=share,
        problems=found,
        overall_rate=base,
        lift=(value / base) if value is not None and base else None,
    )


def psi(expected: Mapping[str, int], actual: Mapping[str, int], bands: Sequence[str]) -> float | None:
    """Population stability index over named ``bands`` (counts; ε for empty bands)."""
    e_tot, a_tot = sum(expected.get(b, 0) for b in bands), sum(actual.get(b, 0) for b in bands)
    if not e_tot or not a_tot:
        return None
    out = 0.0
    for b in bands:
        e = max(expected.get(b, 0) / e_tot, PSI_EPS)
        a = max(actual.get(b, 0) / a_tot, PSI_EPS)
        out += (a - e) * math.log(a / e)
    return out


def psi_band(value: float | None) -> str | None:
    if value is None:
        return None
    return "stable" if value < 0.1 else "moderate shift" if value < 0.25 else "major shift"


def replay_random(
    months: Sequence[tuple[Sequence[int], int, float]],
    *,
    seed: int = DEFAULT_SEED,
    replicates: int = BOOTSTRAP_REPLICATES,
) -> tuple[float, float, float] | None:
    """Mean "days earlier" a uniformly random inspection order gives: (mean, 2.5 %, 97.5 %).

    One entry per month: ``(date_counts, problems, actual_sum)``: inspections per day of the
    month (index = day offset from its first day), the month's problems and the sum of their
    actual day offsets. A random order puts the problems on ``problems`` positions drawn without
    replacement (a multivariate hypergeometric draw over the days), so a month's total gain is
    ``actual_sum`` minus the drawn offsets; the mean is over all problems of the window."""
    total_problems = sum(p for _, p, _ in months)
    if total_problems == 0:
        return None
    rng = np.random.default_rng(seed)
    gains = np.zeros(replicates)
    expected = 0.0
    for counts, problems, actual_sum in months:
        if problems == 0:
            continue
        c = np.asarray(counts, np.int64)
        offsets = np.arange(len(c), dtype=float)
        drawn = rng.multivariate_hypergeometric(c, problems, size=replicates)
        gains += actual_sum - drawn @ offsets
        expected += actual_sum - problems * float(c @ offsets) / float(c.sum())
    means = gains / total_problems
    low, high = np.quantile(means, [0.025, 0.975])
    return expected / total_problems, float(low), float(high)
