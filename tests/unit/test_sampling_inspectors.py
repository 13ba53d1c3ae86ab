"""Inspector assignment: distinct, recusal-respecting, even (max - min <= 1 when possible)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.errors import Unprocessable
from functions.sampling.inspectors import Inspector, assign


def _pool(n: int, conflicts: dict[int, set[str]] | None = None) -> list[Inspector]:
    conflicts = conflicts or {}
    return [Inspector(f"i{k}", "420100", frozenset(conflicts.get(k, set()))) for k in range(n)]


def _loads(result: dict[str, list[str]], pool: list[Inspector]) -> Counter[str]:
    loads: Counter[str] = Counter({i.id: 0 for i in pool})
    loads.update(i for ids in result.values() for i in ids)
    return loads


def test_per_target_distinct_and_even_without_conflicts() -> None:
    pool = _pool(7)
    targets = [f"t{k}" for k in range(100)]
    result = assign("seed", targets, pool, 3)
    assert set(result) == set(targets)
    assert all(len(ids) == 3 == len(set(ids)) for ids in result.values())
    loads = _loads(result, pool)
    assert max(loads.values()) - min(loads.values()) <= 1
    assert sum(loads.values()) == 300


def test_deterministic_and_seed_dependent() -> None:
    pool, targets = _pool(6), [f"t{k}" for k in range(30)]
    assert assign("a", targets, pool, 2) == assign("a", targets, pool, 2)
    assert assign("a", targets, pool, 2) != assign("b", targets, pool, 2)


def test_conflicted_inspector_never_assigned_to_that_target() -> None:
    pool = _pool(4, {0: {"t1", "t2"}, 1: {"t1"}})
    result = assign("s", ["t1", "t2", "t3"], pool, 2)
    assert "i0" not in result["t1"] and "i1" not in result["t1"]
    assert "i0" not in result["t2"]
    assert sorted(result["t1"]) == ["i2", "i3"]


def test_unstaffable_targets_are_named() -> None:
    pool = _pool(3, {0: {"t2", "t5"}, 1: {"t2", "t5"}})
    with pytest.raises(Unprocessable) as err:
        assign("s", [f"t{k}" for k in range(8)], pool, 2)
    assert err.value.details["targets"] == ["t2", "t5"]
    assert err.value.field == "inspectors"


def test_repair_evens_loads_when_greedy_alone_would_not() -> None:
    """Half the targets may only go to i0..i2; the rest to anyone: greedy order can overload."""
    pool = _pool(6, {k: {f"r{j}" for j in range(12)} for k in (3, 4, 5)})
    targets = [f"f{j}" for j in range(12)] + [f"r{j}" for j in range(12)]
    for seed in ("a", "b", "c", "d"):
        loads = _loads(assign(seed, targets, pool, 2), pool)
        assert max(loads.values()) - min(loads.values()) <= 1, (seed, loads)


def _best_spread(targets: list[str], pool: list[Inspector], per_target: int) -> int:
    """Brute force: the smallest max - min load any valid assignment reaches."""
    options = [
        [
            c
            for c in itertools.combinations(range(len(pool)), per_target)
            if not any(t in pool[i].conflicts for i in c)
        ]
        for t in targets
    ]
    best = 10**9
    for choice in itertools.product(*options):
        loads = [0] * len(pool)
        for c in choice:
            for i in c:
                loads[i] += 1
        best = min(best, max(loads) - min(loads))
    return best


@settings(max_examples=60, deadline=None)
@given(
    n_targets=st.integers(1, 4),
    n_pool=st.integers(2, 4),
    conflict_bits=st.lists(st.booleans(), min_size=16, max_size=16),
    seed=st.text(min_size=1, max_size=5),
)
def test_even_whenever_an_even_assignment_exists(
    n_targets: int, n_pool: int, conflict_bits: list[bool], seed: str
) -> None:
    targets = [f"t{k}" for k in range(n_targets)]
    conflicts = {i: {t for j, t in enumerate(targets) if conflict_bits[i * 4 + j]} for i in range(n_pool)}
    pool = _pool(n_pool, conflicts)
    feasible = all(sum(t not in p.conflicts for p in pool) >= 2 for t in targets)
    if not feasible:
        with pytest.raises(Unprocessable):
            assign(seed, targets, pool, 2)
        return
    result = assign(seed, targets, pool, 2)
    for t, ids in result.items():
        assert len(set(ids)) == 2 and all(t not in pool[int(i[1:])].conflicts for i in ids)
    loads = _loads(result, pool)
    spread = max(loads.values()) - min(loads.values())
    best = _best_spread(targets, pool, 2)
    assert spread <= max(1, best), (result, conflicts, best)


def _reference(seed: str, targets: list[str], pool: list[Inspector], per_target: int) -> dict[str, list[str]]:
    """The plain definition the bucketed greedy implements: sort eligible by (load, rotated rank)."""
    from functions.sampling.draw import stream, uniform_below
    from functions.sampling.inspectors import _repair, _shuffled

    m = len(pool)
    eligible = {t: [i for i in range(m) if t not in pool[i].conflicts] for t in targets}
    rng = stream(seed, "inspectors")
    order = _shuffled(rng, list(targets))
    rank = {ins: r for r, ins in enumerate(_shuffled(rng, list(range(m))))}
    load = [0] * m
    assigned: dict[str, set[int]] = {}
    for t in order:
        off = uniform_below(rng, m)
        picks = sorted(eligible[t], key=lambda i: (load[i], (rank[i] + off) % m))[:per_target]
        for i in picks:
            load[i] += 1
        assigned[t] = set(picks)
    _repair(assigned, eligible.__getitem__, load)
    return {t: sorted(pool[i].id for i in assigned[t]) for t in targets}


@settings(max_examples=80, deadline=None)
@given(
    n_targets=st.integers(1, 40),
    n_pool=st.integers(3, 9),
    per_target=st.integers(2, 3),
    conflicts=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 39)), max_size=30),
    seed=st.text(min_size=1, max_size=5),
)
def test_bucketed_greedy_equals_the_definition(
    n_targets: int, n_pool: int, per_target: int, conflicts: list[tuple[int, int]], seed: str
) -> None:
    targets = [f"t{k}" for k in range(n_targets)]
    by_inspector: dict[int, set[str]] = {}
    for i, t in conflicts:
        if i < n_pool and t < n_targets:
            by_inspector.setdefault(i, set()).add(f"t{t}")
    pool = _pool(n_pool, by_inspector)
    try:
        got = assign(seed, targets, pool, per_target)
    except Unprocessable:
        assert any(sum(t not in p.conflicts for p in pool) < per_target for t in targets)
        return
    assert got == _reference(seed, targets, pool, per_target)
