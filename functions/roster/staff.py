"""Staff a plan's targets from the roster: region, field, active day, recusal, even load
(docs/adr/0097).

For each target region (a county code) the pool is every inspector active on the draw day,
qualified for the plan's field, whose office covers the region (its code less trailing ``00``
pairs is a prefix of the region: county, city and province offices). When that pool is smaller
than ``min_pool`` or leaves a target with fewer than ``per_target`` inspectors free of conflicts,
the pool widens to the city (every qualified inspector of the city's offices), then to the
province. Regions that resolve to the same pool are staffed together by
:func:`functions.sampling.inspectors.assign` (even load, recusal, seeded), so loads are even
within each pool. A region that cannot be staffed even from the province is named in the 422
with counts only, never an entity code or a conflict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from functions.errors import Unprocessable
from functions.roster.load import Roster, RosterInspector
from functions.sampling.draw import stream
from functions.sampling.inspectors import Inspector, assign

LEVELS = ("county", "city", "province")
_AREA_LENGTH = {"county": 6, "city": 4, "province": 2}


@dataclass(frozen=True)
class Rules:
    """What the plan asks of its staffing (stored in the plan so verify can replay it)."""

    field: str
    per_target: int
    min_pool: int


@dataclass(frozen=True)
class Staffing:
    inspectors: list[list[str]]  # per target, in the targets' order
    loads: dict[str, int]  # every inspector of the pools used, 0 included
    levels: dict[str, int]  # regions staffed per level (county / city / province)
    qualified: int  # inspectors active on the day and qualified for the field


def rounds(seed: str, targets: Sequence[str], pool: Sequence[str], per_target: int) -> dict[str, list[str]]:
    """Even assignment without recusal in a pool of at least ``2 × per_target``, vectorised.

    Targets in a seeded random order take ``per_target`` consecutive slots of a stream made of
    seeded random permutations of the pool: every complete permutation adds one to every load, so
    loads differ by at most one, and a target's set is a uniformly random one. A window that
    straddles two permutations could name an inspector twice; the repeat in the later permutation
    is swapped with a later position of the same permutation (its counts unchanged). A pure
    function of its arguments (numpy's legacy MT19937 is stable across versions)."""
    m, p, n = len(pool), per_target, len(targets)
    if n == 0:
        return {}
    words = np.frombuffer(stream(seed, "inspector-rounds").getrandbits(256).to_bytes(32, "big"), dtype=">u4")
    rng = np.random.RandomState(words.astype(np.uint32))
    order = rng.permutation(n)
    perms = [rng.permutation(m) for _ in range(-(-n * p // m))]
    for r in range(1, len(perms)):
        start = r * m  # first slot of perms[r]; the window holding it begins at a multiple of p
        head = start - start % p
        if head == start:
            continue
        before = set(perms[r - 1][head - (r - 1) * m :].tolist())
        cur = perms[r]
        end = min(p - start % p, m)  # positions of perms[r] inside the straddling window
        spare = end
        for k in range(end):
            if int(cur[k]) in before:
                while int(cur[spare]) in before:
                    spare += 1
                cur[k], cur[spare] = cur[spare], cur[k]
                spare += 1
    slots = np.sort(np.concatenate(perms)[: n * p].reshape(n, p), axis=1)
    picked: list[list[str]] = np.array(sorted(pool), dtype=object)[slots].tolist()
    return dict(zip((targets[j] for j in order.tolist()), picked, strict=True))


def covers(inspector: RosterInspector, area: str) -> bool:
    """The inspector's office lies in ``area`` or covers all of it."""
    return _covers(inspector.prefix, area)


def _covers(prefix: str, area: str) -> bool:
    return prefix.startswith(area) or area.startswith(prefix)


def draw_day(as_of: dt.datetime) -> dt.date:
    """The draw day in China time (inspectors are on the roster by calendar day)."""
    return as_of.astimezone(dt.timezone(dt.timedelta(hours=8))).date()


def staff(seed: str, targets: Sequence[tuple[str, str]], roster: Roster, rules: Rules) -> Staffing:
    """Inspectors for ``targets`` (``(uscc, region_code)`` pairs): a pure function of its arguments."""
    day = draw_day(roster.as_of)
    qualified = [i for i in roster.inspectors if rules.field in i.fields and i.active_on(day)]
    regions: dict[str, list[str]] = {}
    for code, region in targets:
        regions.setdefault(region, []).append(code)
    conflicted: dict[str, set[str]] = {}
    for ins in qualified:
        for code in ins.conflicts:
            conflicted.setdefault(code, set()).add(ins.id)
    prefixes = [(i.prefix, i.id) for i in qualified]
    pools: dict[str, tuple[str, ...]] = {}  # area → ids of the inspectors covering it

    def pool_of(area: str) -> tuple[str, ...]:
        hit = pools.get(area)
        if hit is None:
            hit = pools[area] = tuple(i for p, i in prefixes if _covers(p, area))
        return hit

    chosen: dict[tuple[str, ...], list[str]] = {}  # pool (ids) → regions
    levels = dict.fromkeys(LEVELS, 0)
    failed: list[dict[str, Any]] = []
    for region in sorted(regions):
        codes = regions[region]
        recusing = [c for c in codes if c in conflicted]
        for level in LEVELS:
            pool = pool_of(region[: _AREA_LENGTH[level]])
            if len(pool) < rules.per_target:
                short = len(codes)
            else:
                ids = set(pool)
                short = sum(1 for c in recusing if len(ids - conflicted[c]) < rules.per_target)
            big_enough = len(pool) >= rules.min_pool or level == LEVELS[-1]
            if big_enough and not short:
                chosen.setdefault(pool, []).append(region)
                levels[level] += 1
                break
        else:
            failed.append(
                {
                    "region_code": region,
                    "targets": len(codes),
                    "eligible_inspectors": len(pool),
                    "unstaffable": short,
                }
            )
    if failed:
        raise Unprocessable(
            f"{len(failed)} region(s) cannot be staffed with {rules.per_target} inspectors qualified for "
            f"{rules.field!r}, active on {day.isoformat()} and free of conflicts",
            field="inspectors",
            inspector_field=rules.field,
            per_target=rules.per_target,
            qualified_inspectors=len(qualified),
            regions=failed[:50],
            regions_count=len(failed),
        )
    by_id = {i.id: i for i in qualified}
    staffed: dict[str, list[str]] = {}
    loads: dict[str, int] = {}
    for pool, pool_regions in sorted(chosen.items(), key=lambda kv: kv[1][0]):
        codes = [c for r in pool_regions for c in regions[r]]
        pool_seed = f"{seed}/{pool_regions[0]}"
        ids = set(pool)
        if len(pool) >= 2 * rules.per_target and not any(conflicted.get(c, set()) & ids for c in codes):
            staffed.update(rounds(pool_seed, codes, pool, rules.per_target))
        else:
            members = [Inspector(i, by_id[i].region_code, by_id[i].conflicts) for i in pool]
            staffed.update(assign(pool_seed, codes, members, rules.per_target))
        for i in pool:
            loads.setdefault(i, 0)
    for picked in staffed.values():
        for i in picked:
            loads[i] += 1
    return Staffing(
        [staffed[code] for code, _ in targets], dict(sorted(loads.items())), levels, len(qualified)
    )
