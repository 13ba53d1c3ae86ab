"""The draw: exact sizes, determinism, independence, uniformity (statistical), version stability."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.sampling.draw import (
    _stable_order,
    draw,
    floyd_sample,
    new_seed,
    sample_size,
    stream,
    uniform_below,
)


@pytest.mark.parametrize(
    ("population", "ratio", "expected"),
    [
        (100, 0.03, 3),  # 0.03 × 100 is 3.0000000000000004 in binary floats
        (100, 0.07, 7),  # and 0.07 × 100 is 7.000000000000001: ceil would give 8
        (1000, 0.001, 1),
        (1, 0.01, 1),  # ceil: a non-empty stratum with a positive ratio is always sampled
        (10, 0.0, 0),
        (10, 1.0, 10),
        (0, 0.5, 0),
        (3, 0.999, 3),
        (200, 0.015, 3),
        (12345, 0.1, 1235),
    ],
)
def test_sample_size_is_exact(population: int, ratio: float, expected: int) -> None:
    assert sample_size(population, ratio) == expected


def test_golden_draw_is_stable_across_versions() -> None:
    """Pinned output: if this changes, every stored plan stops verifying (docs/adr/0041)."""
    assert draw("golden", {"A": 100, "B": 10, "C": 0, "D": 5}, {"A": 0.05, "B": 0.3, "D": 1}) == {
        "A": [14, 58, 67, 87, 94],
        "B": [2, 6, 9],
        "C": [],
        "D": [0, 1, 2, 3, 4],
    }
    assert floyd_sample(stream("golden", "x"), 10**12, 3) == [381223265036, 418650527129, 849015979358]


def test_same_seed_same_draw_other_seed_other_draw() -> None:
    pops = {"A": 5000, "B": 3000, "C": 800, "D": 200}
    ratios = {"A": 0.01, "B": 0.03, "C": 0.1, "D": 0.3}
    assert draw("s1", pops, ratios) == draw("s1", pops, ratios)
    assert draw("s1", pops, ratios) != draw("s2", pops, ratios)


def test_strata_are_independent_streams() -> None:
    """Changing D's ratio (or dropping B) leaves A's sample untouched."""
    pops = {"A": 1000, "B": 500, "C": 100, "D": 50}
    one = draw("seed", pops, {"A": 0.05, "B": 0.1, "D": 0.2})
    two = draw("seed", pops, {"A": 0.05, "D": 0.9})
    assert one["A"] == two["A"]
    assert two["B"] == [] and two["C"] == []


def test_unrequested_class_is_not_sampled() -> None:
    assert draw("x", {"A": 10, "B": 10}, {"A": 1.0}) == {"A": list(range(10)), "B": []}


@settings(max_examples=200, deadline=None)
@given(population=st.integers(0, 5000), data=st.data(), seed=st.text(min_size=1, max_size=20))
def test_floyd_draws_k_distinct_in_range(population: int, data: st.DataObject, seed: str) -> None:
    k = data.draw(st.integers(0, population))
    got = floyd_sample(stream(seed, "A"), population, k)
    assert len(got) == k == len(set(got))
    assert got == sorted(got)
    assert all(0 <= x < population for x in got)


def test_uniform_below_bounds_and_big_ranges() -> None:
    rng = random.Random(1)
    assert {uniform_below(rng, 3) for _ in range(300)} == {0, 1, 2}
    big = 2**70 + 12345
    assert all(0 <= uniform_below(rng, big) < big for _ in range(100))
    with pytest.raises(ValueError):
        uniform_below(rng, 0)


def test_generated_seeds_are_fresh() -> None:
    seeds = {new_seed() for _ in range(100)}
    assert len(seeds) == 100 and all(len(s) == 32 for s in seeds)


def _chi2_upper(df: int, z: float = 4.0) -> float:
    """Wilson–Hilferty upper quantile of chi-square (z standard deviations)."""
    return float(df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3)


def test_inclusion_frequencies_match_ratios_over_2000_seeds() -> None:
    """Every member of a stratum is included with probability n/N (equal probability)."""
    pops = {"A": 60, "B": 40, "C": 25, "D": 9}
    ratios = {"A": 0.05, "B": 0.1, "C": 0.2, "D": 0.5}
    runs = 2000
    counts: dict[str, Counter[int]] = {c: Counter() for c in pops}
    for i in range(runs):
        for c, positions in draw(f"seed-{i}", pops, ratios).items():
            counts[c].update(positions)
    for c, n_pop in pops.items():
        k = sample_size(n_pop, ratios[c])
        p = k / n_pop
        sigma = math.sqrt(p * (1 - p) / runs)
        freqs = [counts[c][j] / runs for j in range(n_pop)]
        # each member: binomial bound at 4.5 sigma
        assert all(abs(f - p) <= 4.5 * sigma for f in freqs), (c, p, min(freqs), max(freqs))
        # all members together: chi-square goodness of fit against equal inclusion
        expected = runs * p
        chi2 = sum((counts[c][j] - expected) ** 2 / expected for j in range(n_pop))
        assert chi2 <= _chi2_upper(n_pop - 1), (c, chi2)


def test_pairs_are_not_correlated() -> None:
    """Joint inclusion of two members matches simple random sampling: k(k-1)/(N(N-1))."""
    n_pop, ratio, runs = 20, 0.25, 2000
    k = sample_size(n_pop, ratio)
    both = sum(1 for i in range(runs) if {0, 1} <= set(draw(f"p{i}", {"A": n_pop}, {"A": ratio})["A"]))
    p = k * (k - 1) / (n_pop * (n_pop - 1))
    assert abs(both / runs - p) <= 4.5 * math.sqrt(p * (1 - p) / runs)


def test_fast_path_equals_the_reference_construction() -> None:
    """The inlined loop must give exactly what uniform_below-based Floyd gives."""

    def reference(seed: str, population: int, k: int) -> list[int]:
        rng = stream(seed, "A")
        chosen: set[int] = set()
        for j in range(population - k, population):
            t = uniform_below(rng, j + 1)
            chosen.add(j if t in chosen else t)
        return sorted(chosen)

    for population, k in ((1, 1), (5, 5), (7, 3), (1000, 999), (123457, 40)):
        assert floyd_sample(stream("ref", "A"), population, k) == reference("ref", population, k)


@pytest.mark.parametrize("bound", [40, 1 << 62])  # the composite sort, and the argsort beyond it
def test_stable_order_is_the_stable_argsort(bound: int) -> None:
    """Floyd's duplicate step orders the drawn numbers by one plain sort of composite keys: the
    same order as a stable argsort, ties (a number drawn twice) by position."""
    rng = np.random.default_rng(7)
    for n in (0, 1, 2, 50, 3000):
        t = rng.integers(0, 40, n).astype(np.int64)  # many repeats
        ordered, order = _stable_order(t, bound)
        want = np.argsort(t, kind="stable")
        assert order.tolist() == want.tolist()
        assert ordered.tolist() == t[want].tolist()
