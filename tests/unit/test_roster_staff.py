"""Staffing from the roster: region coverage and fallback, field, active day, recusal, even load."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from typing import Any

import numpy as np
import pytest

from functions.errors import Unprocessable
from functions.roster import staff as staffing
from functions.roster.load import Roster, RosterInspector, region_prefix
from functions.roster.staff import Rules, covers, draw_day, rounds, staff

AS_OF = dt.datetime(2026, 11, 5, 2, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 5)
RULES = Rules("general", 2, 3)


def ins(
    i: str,
    region: str,
    fields: str = "general",
    *,
    start: dt.date = dt.date(2020, 1, 1),
    end: dt.date | None = None,
    conflicts: frozenset[str] = frozenset(),
) -> RosterInspector:
    return RosterInspector(i, f"p-{i}", region, frozenset(fields.split(";")), start, end, conflicts)


def roster(*inspectors: RosterInspector) -> Roster:
    return Roster("42", AS_OF, tuple(sorted(inspectors, key=lambda r: r.id)))


def targets(region: str, n: int, tag: str = "T") -> list[tuple[str, str]]:
    return [(f"{tag}{region}{k:04d}", region) for k in range(n)]


def test_region_prefix_and_cover() -> None:
    assert [region_prefix(c) for c in ("420000", "420100", "420102", "429004")] == [
        "42",
        "4201",
        "420102",
        "429004",
    ]
    assert covers(ins("a", "420100"), "420102") and covers(ins("a", "420000"), "420102")
    assert covers(ins("a", "420102"), "4201") and not covers(ins("a", "420502"), "4201")
    assert draw_day(dt.datetime(2026, 11, 30, 17, 0, tzinfo=dt.UTC)) == dt.date(2026, 12, 1)  # China time


def test_county_pool_when_large_enough() -> None:
    r = roster(*(ins(f"c{k}", "420102") for k in range(4)), ins("far", "420502"), ins("city", "420100"))
    out = staff("s", targets("420102", 30), r, RULES)
    used = {i for ids in out.inspectors for i in ids}
    assert used == {"c0", "c1", "c2", "c3", "city"}  # the county's and the city office's inspectors
    assert out.levels == {"county": 1, "city": 0, "province": 0}
    assert all(len(set(ids)) == 2 for ids in out.inspectors)
    loads = [out.loads[i] for i in sorted(used)]
    assert max(loads) - min(loads) <= 1 and sum(loads) == 60
    assert "far" not in out.loads


def test_small_county_falls_back_to_city_then_province() -> None:
    r = roster(ins("c1", "420102"), ins("c2", "420103"), ins("c3", "420104"), ins("x", "420502"))
    out = staff("s", targets("420102", 10), r, RULES)
    assert out.levels == {"county": 0, "city": 1, "province": 0}
    assert {i for ids in out.inspectors for i in ids} == {"c1", "c2", "c3"}
    lonely = roster(ins("c1", "420102"), ins("y", "420502"), ins("z", "421002"))
    out = staff("s", targets("420102", 10), lonely, RULES)
    assert out.levels == {"county": 0, "city": 0, "province": 1}
    assert {i for ids in out.inspectors for i in ids} == {"c1", "y", "z"}


def test_field_active_day_and_conflicts() -> None:
    ts = targets("420102", 12)
    victim = ts[0][0]
    r = roster(
        ins("food1", "420102", "general;food"),
        ins("food2", "420102", "food", conflicts=frozenset({victim})),
        ins("food3", "420100", "food"),
        ins("food4", "420000", "food"),
        ins("gone", "420102", "food", end=DAY - dt.timedelta(days=1)),
        ins("later", "420102", "food", start=DAY + dt.timedelta(days=1)),
        ins("last-day", "420102", "food", end=DAY),
        ins("general-only", "420102"),
    )
    out = staff("s", ts, r, Rules("food", 2, 3))
    used = {i for ids in out.inspectors for i in ids}
    assert used == {"food1", "food2", "food3", "food4", "last-day"}
    assert out.qualified == 5
    assert "food2" not in out.inspectors[0]


def test_deterministic_from_seed() -> None:
    r = roster(*(ins(f"c{k}", "420102") for k in range(6)))
    ts = targets("420102", 40)
    assert staff("a", ts, r, RULES) == staff("a", ts, r, RULES)
    assert staff("a", ts, r, RULES).inspectors != staff("b", ts, r, RULES).inspectors


def test_unstaffable_422_counts_regions_never_codes_or_conflicts() -> None:
    ts = targets("420102", 5) + targets("420502", 3)
    victim = ts[1][0]
    r = roster(
        ins("a", "420102", conflicts=frozenset({victim})),
        ins("b", "420102", conflicts=frozenset({victim})),
        ins("c", "420102"),
        ins("d", "420502", "food"),
    )
    with pytest.raises(Unprocessable) as err:
        staff("s", ts, r, RULES)
    body = json.dumps(err.value.to_dict(), ensure_ascii=False)
    assert err.value.field == "inspectors"
    # 420502 is staffed from the province's general inspectors; 420102 cannot staff one target
    assert err.value.details["regions"] == [
        {"region_code": "420102", "targets": 5, "eligible_inspectors": 3, "unstaffable": 1}
    ]
    assert victim not in body and "conflict" not in json.dumps(err.value.details)


@pytest.mark.parametrize("round_draw", [staffing.SHUFFLED_ROUNDS, staffing.KEYED_ROUNDS])
def test_loads_even_with_many_regions_sharing_a_pool(round_draw: int) -> None:
    r = roster(*(ins(f"p{k}", "420000") for k in range(5)))
    ts = targets("420102", 7) + targets("420502", 9) + targets("421002", 4)
    out = staff("s", ts, r, RULES, round_draw)
    assert out.levels == {"county": 3, "city": 0, "province": 0}
    counts = Counter(i for ids in out.inspectors for i in ids)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_keyed_rounds_keep_each_pools_loads_even() -> None:
    """Plan format 5 draws every pool's rounds from one generator (ADR 0163): each pool, of
    whatever size, is still staffed evenly and only from its own members."""
    offices = {"420102": 3, "420502": 5, "421002": 7}  # county pools of different sizes
    r = roster(*(ins(f"{o}-{k}", o) for o, count in offices.items() for k in range(count)))
    ts = targets("420102", 40) + targets("420502", 33) + targets("421002", 50)
    out = staff("s", ts, r, Rules("general", 2, 3), staffing.KEYED_ROUNDS)
    for office in offices:
        mine = [ids for (_, region), ids in zip(ts, out.inspectors, strict=True) if region == office]
        assert all(len(set(ids)) == 2 and all(i.startswith(office) for i in ids) for ids in mine)
        counts = Counter(i for ids in mine for i in ids)
        assert len(counts) == offices[office] and max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.parametrize(
    ("m", "p", "n"), [(4, 2, 1), (4, 2, 7), (5, 2, 11), (7, 3, 50), (6, 3, 13), (30, 2, 471)]
)
def test_rounds_distinct_even_and_seeded(m: int, p: int, n: int) -> None:
    pool = [f"i{k:02d}" for k in range(m)]
    ts = [f"T{k}" for k in range(n)]
    out = rounds("s", ts, pool, p)
    assert set(out) == set(ts) and all(len(set(ids)) == p and len(ids) == p for ids in out.values())
    counts = Counter(i for ids in out.values() for i in ids)
    loads = [counts.get(i, 0) for i in pool]
    assert max(loads) - min(loads) <= 1 and sum(loads) == n * p
    assert out == rounds("s", ts, pool, p) and (n < 3 or out != rounds("t", ts, pool, p))


def test_pairs_vary_over_the_pool() -> None:
    """Every pair of a 6-inspector pool turns up over enough targets (not a fixed pairing)."""
    pool = [f"i{k}" for k in range(6)]
    out = rounds("s", [f"T{k}" for k in range(600)], pool, 2)
    assert len({tuple(ids) for ids in out.values()}) == 15


def test_conflicts_take_the_repairing_assignment() -> None:
    """A pool with a recusing inspector goes through assign() (recusal and repair), else rounds()."""
    ts = targets("420102", 20)
    clean = roster(*(ins(f"c{k}", "420102") for k in range(5)))
    assert staff("s", ts, clean, RULES).inspectors == [
        rounds("s/420102", [c for c, _ in ts], [f"c{k}" for k in range(5)], 2)[c] for c, _ in ts
    ]
    recusing = roster(
        *(
            ins(f"c{k}", "420102", conflicts=frozenset({ts[0][0]}) if k == 0 else frozenset())
            for k in range(5)
        )
    )
    out = staff("s", ts, recusing, RULES)
    assert "c0" not in out.inspectors[0]


def _golden_roster(conflicted: list[str]) -> Roster:
    """44 inspectors over a province office, 3 cities and 9 counties (some counties thin, so
    pools widen), mixed fields and active days; every 9th recuses from one of ``conflicted``."""
    rows = []
    for k in range(44):
        office = (
            ("420000", "420100", "420500", "421000")[k % 4]
            if k % 3 == 0
            else f"42{(k % 3) * 4 + 1:02d}0{k % 3 + 1}"
        )
        fields = "general;food" if k % 2 else "general"
        end = dt.date(2026, 10, 1) if k % 11 == 5 else None
        conflicts = frozenset({conflicted[k % len(conflicted)]}) if conflicted and k % 9 == 4 else frozenset()
        rows.append(ins(f"i{k:02d}", office, fields, end=end, conflicts=conflicts))
    return roster(*rows)


# sha256 of each case's staffing (inspectors, loads, levels, qualified) as first released: plans
# re-derive their staffing at verification, so these never change without a new plan format
GOLDEN = {
    "rounds": "f39e81c9b27f8839565bb8b200276b98d15ae1704c9673887f14039bb19497fa",
    "conflicts": "85fac52a595cb3011416bc49df86dc1abe265f290150755d52ca07910710fe19",
    "food_p3": "abc34b3a4ff889151f59b70d2310e15b66a75c2bc4e682554c7cfbc958cee362",
}


def _golden_staffing(case: str, round_draw: int = staffing.SHUFFLED_ROUNDS) -> tuple[str, Any]:
    """The SHA-256 of a golden case's staffing (inspectors, loads, levels, qualified), and it."""
    counties = ["420101", "420102", "420103", "420501", "420502", "420503", "421001", "421002", "421003"]
    ts = [(f"9{c}{k:05d}", c) for k in range(400) for c in counties if (k * 7 + int(c)) % 5]
    conflicted = [code for code, _ in ts[::97]] if case == "conflicts" else []
    rules = Rules("food", 3, 3) if case == "food_p3" else RULES
    out = staff(f"seed-{case}", ts, _golden_roster(conflicted), rules, round_draw)
    text = json.dumps([out.inspectors, out.loads, out.levels, out.qualified], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), out


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_staffing_is_bit_identical_to_the_released_algorithm(case: str) -> None:
    assert _golden_staffing(case)[0] == GOLDEN[case]


def _round_slots_as_first_written(seed: str, n: int, m: int, p: int) -> tuple[Any, Any]:
    """:func:`functions.roster.staff._round_slots` as first released (ADR 0129): one
    ``permutation`` call per round and the straddle check on every row."""
    rng = staffing._generator(seed)
    order = rng.permutation(n)
    perms = [rng.permutation(m) for _ in range(-(-n * p // m))]
    if m % p:
        for r in range(1, len(perms)):
            start = r * m
            head = start - start % p
            if head == start:
                continue
            before = set(perms[r - 1][head - (r - 1) * m :].tolist())
            cur = perms[r]
            end = min(p - start % p, m)
            spare = end
            for k in range(end):
                if int(cur[k]) in before:
                    while int(cur[spare]) in before:
                        spare += 1
                    cur[k], cur[spare] = cur[spare], cur[k]
                    spare += 1
    return order, np.sort(np.concatenate(perms)[: n * p].reshape(n, p), axis=1)


@pytest.mark.parametrize("p", [1, 2, 3, 5])
def test_round_slots_are_those_first_released(p: int) -> None:
    """The batched shuffles and the vectorised straddle check draw the same, bit for bit, on
    pools below and above ``2p``, multiples of ``p`` or not (docs/adr/0153)."""
    for m in (p, p + 1, 2 * p - 1 if p > 1 else 2, 2 * p, 2 * p + 1, 7, 20, 21, 22, 41):
        for n in (1, 2, 9, 400):
            for seed in ("a", "b", "c"):
                want = _round_slots_as_first_written(seed, n, m, p)
                got = staffing._round_slots(seed, n, m, p)
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), (m, n, seed)


def _keyed_rounds(seed: str, sizes: list[tuple[int, int]], p: int) -> list[tuple[Any, Any]]:
    """Each pool's ``(order, slots)`` of the plan-wide keyed rounds, ``order`` as positions in the
    pool (what :func:`_round_slots` gives one pool)."""
    n = [a for a, _ in sizes]
    orders, slots = staffing._keyed_slots(seed, sizes, p)
    firsts = np.cumsum(n) - n
    parts = zip(staffing._parts(orders, n), staffing._parts(slots, n), firsts.tolist(), strict=True)
    return [(order - first, rows) for order, rows, first in parts]


@pytest.mark.parametrize(
    ("m", "p", "n"), [(4, 2, 1), (4, 2, 7), (5, 2, 11), (7, 3, 50), (6, 3, 13), (30, 2, 471)]
)
def test_keyed_rounds_are_distinct_even_and_seeded(m: int, p: int, n: int) -> None:
    """Plan format 5 (ADR 0163): every round is a permutation of the pool, so the properties of
    the shuffled rounds hold."""
    order, slots = _keyed_rounds("s", [(n, m)], p)[0]
    assert sorted(order.tolist()) == list(range(n)) and slots.shape == (n, p)
    assert all(len(set(row)) == p for row in slots.tolist())
    loads = np.bincount(slots.ravel(), minlength=m)
    assert loads.max() - loads.min() <= 1 and loads.sum() == n * p
    again = _keyed_rounds("s", [(n, m)], p)[0]
    assert np.array_equal(order, again[0]) and np.array_equal(slots, again[1])
    if n >= 3:
        other = _keyed_rounds("t", [(n, m)], p)[0]
        assert not (np.array_equal(order, other[0]) and np.array_equal(slots, other[1]))


@pytest.mark.parametrize("width", range(1, 9))
def test_sorted_rows_sorts_each_row(width: int) -> None:
    """The keyed rounds sort every target's slots in one pass (a min/max network for narrow
    rows, ``np.sort`` beyond): the same matrix as ``np.sort(axis=1)``, repeats included."""
    rng = np.random.default_rng(width)
    for n in (0, 1, 37):
        a = rng.integers(0, 5, (n, width)).astype(np.int64)
        assert np.array_equal(staffing._sorted_rows(a), np.sort(a, axis=1))


def test_part_orders_are_each_parts_own_stable_argsort() -> None:
    """The pools' target orders by one composite sort per 1,024 pools: each pool's stable
    ``argsort`` (as positions in all keys), ties (equal 53-bit keys) in position order, empty
    pools and three groups."""
    rng = np.random.RandomState(7)
    counts = rng.randint(0, 6, 3000)
    counts[:3] = [0, 4, 0]
    keys = rng.random_sample(int(counts.sum()))
    keys[1:4] = keys[0]  # a tie inside the first non-empty part
    got = staffing._part_orders(keys, counts)
    at = np.concatenate([[0], np.cumsum(counts)])
    want = [at[i] + np.argsort(keys[at[i] : at[i + 1]], kind="stable") for i in range(len(counts))]
    assert np.array_equal(got, np.concatenate(want))
    assert got[:4].tolist() == [0, 1, 2, 3]
    assert [len(p) for p in staffing._parts(got, counts)] == counts.tolist()
    assert staffing._part_orders(np.zeros(0), np.zeros(0, dtype=np.int64)).shape == (0,)


@pytest.mark.parametrize(("m", "p"), [(5, 2), (7, 3), (4, 3), (9, 4), (6, 3), (3, 2)])
def test_straddles_of_stacked_pools_are_fixed_as_each_pools_own(m: int, p: int) -> None:
    """The keyed rounds fix the straddling windows of every pool of one width at once: the same
    rounds as fixing each pool on its own (pools of 0 to 9 rounds, wide and narrow pools)."""
    rng = np.random.default_rng(m * 10 + p)
    counts = rng.integers(0, 10, 40)
    rows = np.argsort(rng.random((int(counts.sum()), m)), axis=1)
    want = rows.copy()
    for part in staffing._parts(want, counts):
        staffing._fix_straddles(part, m, p)
    got = rows.copy()
    staffing._fix_stacked(got, counts, m, p)
    assert np.array_equal(got, want)
    assert m % p == 0 or m < 2 * p or not np.array_equal(got, rows)  # some window needed a fix


def test_keyed_rounds_of_several_pools_are_each_pools_own() -> None:
    """Pools staffed together get their own slots: each pool's rows are sorted, its loads even."""
    sizes = [(7, 5), (40, 9), (1, 4), (13, 5)]
    for (n, m), (order, slots) in zip(sizes, _keyed_rounds("s", sizes, 2), strict=True):
        assert sorted(order.tolist()) == list(range(n)) and slots.shape == (n, 2)
        assert (slots[:, 0] < slots[:, 1]).all()
        loads = np.bincount(slots.ravel(), minlength=m)
        assert loads.max() - loads.min() <= 1


# the same cases staffed with keyed rounds (plan format 5, ADR 0163): pinned like GOLDEN
GOLDEN_KEYED = {
    "rounds": "75ee1c1f647e45ff5101a47898a195174da4dd725b1fdd08cac59271df30d4df",
    "conflicts": "7dd909262dd71df06336e5e4a119a684e5dbbb7c8e18c270c9b69ed630e77244",
    "food_p3": "e64202995544ac7c32c2724f298e310905c41087303d3534e026e9b879362bea",
}


@pytest.mark.parametrize("case", sorted(GOLDEN_KEYED))
def test_keyed_staffing_is_pinned_and_differs_from_the_shuffled(case: str) -> None:
    digest, out = _golden_staffing(case, staffing.KEYED_ROUNDS)
    assert digest == GOLDEN_KEYED[case] and digest != GOLDEN[case]
    loads = [load for load in out.loads.values() if load]
    assert sum(loads) == len(out.inspectors) * len(out.inspectors[0])
