"""Small, exact statistics used by the effectiveness evaluation (pure Python, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence

PSI_BINS = tuple(range(0, 101, 10))  # fixed 10-point bands of the 0–100 risk score
PSI_EPS = 1e-4


def auc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """ROC AUC as the Mann–Whitney statistic with mid-ranks for ties; ``None`` if one class is empty."""
    n_pos = sum(1 for p in positives if p)
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        mid = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = mid
        i = j + 1
    rank_sum = sum(r for r, p in zip(ranks, positives, strict=True) if p)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def histogram(scores: Sequence[float]) -> list[float]:
    """Shares of scores per 10-point band (the last band includes 100)."""
    counts = [0] * (len(PSI_BINS) - 1)
    for s in scores:
        counts[min(int(s // 10), len(counts) - 1) if s >= 0 else 0] += 1
    total = len(scores)
    return [c / total for c in counts] if total else [0.0] * len(counts)


def psi(expected: Sequence[float], actual: Sequence[float]) -> float | None:
    """Population stability index of ``actual`` (this month) against ``expected`` (last month)."""
    if not expected or not actual:
        return None
    return psi_of_shares(histogram(expected), histogram(actual))


def psi_of_shares(e: Sequence[float] | None, a: Sequence[float] | None) -> float | None:
    """PSI of two band-share vectors (histograms the engine computed, ADR 0109)."""
    if not e or not a:
        return None
    return sum(
        (max(ai, PSI_EPS) - max(ei, PSI_EPS)) * math.log(max(ai, PSI_EPS) / max(ei, PSI_EPS))
        for ei, ai in zip(e, a, strict=True)
    )


def psi_band(value: float | None) -> str | None:
    if value is None:
        return None
    return "stable" if value < 0.1 else "moderate shift" if value < 0.25 else "major shift"


def expected_found_in_top(scores: Sequence[float], positives: Sequence[bool], k: int) -> float:
    """Expected positives among the ``k`` highest scores, ties broken uniformly at random.

    Scores are coarse (many entities share one), so a fixed tie-break would flatter or punish
    the model arbitrarily; the expectation is exact and deterministic."""
    groups: dict[float, list[bool]] = {}
    for s, p in zip(scores, positives, strict=True):
        groups.setdefault(s, []).append(p)
    found, left = 0.0, k
    for s in sorted(groups, reverse=True):
        g = groups[s]
        if left <= 0:
            break
        take = min(left, len(g))
        found += sum(g) * take / len(g)
        left -= take
    return found
