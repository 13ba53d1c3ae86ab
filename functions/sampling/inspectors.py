"""Random, even, recusal-respecting assignment of inspectors to targets (docs/adr/0042).

Rules (国办发〔2015〕58号): at least two distinct inspectors per target, never one with a
conflict of interest. Loads are spread evenly: a randomised greedy pass (targets in random
order, each takes the ``per_target`` least-loaded eligible inspectors, random tie-breaks) keeps
``max - min <= 1`` whenever no conflicts interfere (induction: the loads stay on two adjacent
levels). Conflicts can break that, so a repair pass moves single assignments along alternating
paths (inspector i gives a target to j, j gives one to k, …) from an overloaded inspector to an
underloaded one until no such path exists; then no single chain of moves can even loads further.
"""

from __future__ import annotations

import random
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from functions.errors import Unprocessable
from functions.sampling.draw import stream, uniform_below

MAX_NAMED_TARGETS = 50
T = TypeVar("T")


@dataclass(frozen=True)
class Inspector:
    id: str
    region_code: str
    conflicts: frozenset[str]


def assign(
    seed: str, targets: Sequence[str], pool: Sequence[Inspector], per_target: int
) -> dict[str, list[str]]:
    """``{target: [inspector ids]}`` — a pure function of its arguments (422 if impossible)."""
    if per_target < 1:
        raise ValueError("per_target must be positive")
    m = len(pool)
    conflicted: dict[str, set[int]] = {}
    for i, ins in enumerate(pool):
        for code in ins.conflicts:
            conflicted.setdefault(code, set()).add(i)
    unstaffable = [t for t in targets if m - len(conflicted.get(t, ())) < per_target]
    if unstaffable:
        raise Unprocessable(
            f"{len(unstaffable)} target(s) cannot be staffed with {per_target} inspectors free of conflicts",
            field="inspectors",
            targets=unstaffable[:MAX_NAMED_TARGETS],
            unstaffable_count=len(unstaffable),
            per_target=per_target,
        )
    eligible_cache: dict[str, list[int]] = {}

    def eligible(t: str) -> list[int]:
        hit = eligible_cache.get(t)
        if hit is None:
            bad = conflicted.get(t, set())
            hit = eligible_cache[t] = [i for i in range(m) if i not in bad]
        return hit

    rng = stream(seed, "inspectors")
    order = _shuffled(rng, list(targets))
    tiebreak = _shuffled(rng, list(range(m)))
    rank = [0] * m
    for r, i in enumerate(tiebreak):
        rank[i] = r
    load = [0] * m
    # levels[L]: ranks of the inspectors whose load is L, ascending. Each target takes the first
    # per_target eligible inspectors in (load, (rank + off) % m) order: lowest level first, and
    # inside a level the ranks rotated to start at (m - off) % m.
    levels: dict[int, list[int]] = {0: sorted(rank)}
    assigned: dict[str, set[int]] = {}
    for t in order:
        off = uniform_below(rng, m)  # rotate the tie-break so pairs of inspectors vary
        start = (m - off) % m
        bad = conflicted.get(t, set())
        picks: list[int] = []
        level = min(levels)
        top = max(levels)
        while len(picks) < per_target and level <= top:
            ranks = levels.get(level)
            if ranks:
                cut = bisect_left(ranks, start)
                for r in (*ranks[cut:], *ranks[:cut]):
                    i = tiebreak[r]
                    if i not in bad:
                        picks.append(i)
                        if len(picks) == per_target:
                            break
            level += 1
        for i in picks:
            ranks = levels[load[i]]
            del ranks[bisect_left(ranks, rank[i])]
            if not ranks:
                del levels[load[i]]
            load[i] += 1
            insort(levels.setdefault(load[i], []), rank[i])
        assigned[t] = set(picks)
    _repair(assigned, eligible, load)
    return {t: sorted(pool[i].id for i in assigned[t]) for t in targets}


def _shuffled(rng: random.Random, items: list[T]) -> list[T]:
    """Fisher–Yates on top of ``random()`` (stable across Python versions)."""
    out = list(items)
    for j in range(len(out) - 1, 0, -1):
        k = uniform_below(rng, j + 1)
        out[j], out[k] = out[k], out[j]
    return out


def _repair(assigned: dict[str, set[int]], eligible: Callable[[str], list[int]], load: list[int]) -> None:
    """Move assignments along alternating paths from heavy to light inspectors until none helps."""
    n = len(load)
    if n == 0:
        return
    holding: list[set[str]] = [set() for _ in range(n)]
    for t, ins in assigned.items():
        for i in ins:
            holding[i].add(t)
    while True:
        hi, lo = max(load), min(load)
        if hi - lo <= 1:
            return
        path = _find_path(
            [i for i in range(n) if load[i] == hi],
            partial(_at_most, load, hi - 2),
            assigned,
            eligible,
            holding,
        )
        if path is None:
            path = _find_path(
                [i for i in range(n) if load[i] >= lo + 2],
                partial(_exactly, load, lo),
                assigned,
                eligible,
                holding,
            )
        if path is None:
            return
        for giver, target, taker in path:
            assigned[target].discard(giver)
            assigned[target].add(taker)
            holding[giver].discard(target)
            holding[taker].add(target)
        load[path[0][0]] -= 1
        load[path[-1][2]] += 1


def _at_most(load: list[int], limit: int, j: int) -> bool:
    return load[j] <= limit


def _exactly(load: list[int], value: int, j: int) -> bool:
    return load[j] == value


def _find_path(
    sources: list[int],
    is_sink: Callable[[int], bool],
    assigned: Mapping[str, set[int]],
    eligible: Callable[[str], list[int]],
    holding: list[set[str]],
) -> list[tuple[int, str, int]] | None:
    """BFS over inspectors: i → j when i holds a target j may take (eligible, not yet on it)."""
    prev: dict[int, tuple[int, str] | None] = {s: None for s in sources}
    queue = deque(sources)
    while queue:
        i = queue.popleft()
        for t in sorted(holding[i]):
            for j in eligible(t):
                if j in prev or j in assigned[t]:
                    continue
                prev[j] = (i, t)
                if is_sink(j):
                    steps: list[tuple[int, str, int]] = []
                    cur = j
                    step = prev[cur]
                    while step is not None:
                        giver, target = step
                        steps.append((giver, target, cur))
                        cur = giver
                        step = prev[cur]
                    return list(reversed(steps))
                queue.append(j)
    return None
