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
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.errors import Unprocessable
from functions.roster.load import Roster, RosterInspector
from functions.sampling.draw import seeded_state, stream
from functions.sampling.frame import int64_numpy, string_array
from functions.sampling.inspectors import Inspector, assign

LEVELS = ("county", "city", "province")
_AREA_LENGTH = {"county": 6, "city": 4, "province": 2}


@dataclass(frozen=True)
class Rules:
    """What the plan asks of its staffing (stored in the plan so verify can replay it)."""

    field: str
    per_target: int
    min_pool: int


class Staffing:
    """Inspectors per target as an ``n × per_target`` matrix of positions in ``ids`` (ascending
    per row, so each target's ids are sorted): built and encoded column-wise (docs/adr/0129)."""

    def __init__(
        self,
        ids: tuple[str, ...],
        matrix: Any,
        loads: dict[str, int],
        levels: dict[str, int],
        qualified: int,
    ) -> None:
        self.ids = ids  # the qualified inspectors' ids, sorted
        self.matrix = matrix  # int64 numpy, one row per target in the targets' order
        self.loads = loads  # every inspector of the pools used, 0 included
        self.levels = levels  # regions staffed per level (county / city / province)
        self.qualified = qualified  # inspectors active on the day and qualified for the field

    @cached_property
    def inspectors(self) -> list[list[str]]:
        """Per target, in the targets' order (verification, tests; the API encodes the matrix)."""
        out: list[list[str]] = np.array(self.ids, dtype=object)[self.matrix].tolist()
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Staffing):
            return NotImplemented
        return (self.ids, self.loads, self.levels, self.qualified) == (
            other.ids,
            other.loads,
            other.levels,
            other.qualified,
        ) and bool(np.array_equal(self.matrix, other.matrix))

    __hash__ = None  # type: ignore[assignment]


_KEYED_DOMAIN = b"creditrisk-inspector-rounds/2\0"


def _generator(seed: str, keyed: bool = False) -> Any:
    """numpy's legacy MT19937 seeded from ``stream(seed, "inspector-rounds")``, or for the keyed
    rounds (one per plan, ADR 0163) straight from the eight words of SHA-256 over a domain and
    the seed (:func:`seeded_state`: one per thread, re-seeded)."""
    if keyed:
        raw = hashlib.sha256(_KEYED_DOMAIN + seed.encode("utf-8")).digest()
    else:
        raw = stream(seed, "inspector-rounds").getrandbits(256).to_bytes(32, "big")
    return seeded_state(np.frombuffer(raw, dtype=">u4").astype(np.uint32), "inspector-rounds")


def rounds(seed: str, targets: Sequence[str], pool: Sequence[str], per_target: int) -> dict[str, list[str]]:
    """Even assignment without recusal in a pool of at least ``2 × per_target``, vectorised.

    Targets in a seeded random order take ``per_target`` consecutive slots of a stream made of
    seeded random permutations of the pool: every complete permutation adds one to every load, so
    loads differ by at most one, and a target's set is a uniformly random one. A window that
    straddles two permutations could name an inspector twice; the repeat in the later permutation
    is swapped with a later position of the same permutation (its counts unchanged). A pure
    function of its arguments (numpy's legacy MT19937 is stable across versions)."""
    if not targets:
        return {}
    order, slots = _round_slots(seed, len(targets), len(pool), per_target)
    picked: list[list[str]] = np.array(sorted(pool), dtype=object)[slots].tolist()
    return dict(zip((targets[j] for j in order.tolist()), picked, strict=True))


SHUFFLED_ROUNDS, KEYED_ROUNDS = 1, 2  # how the rounds' permutations are drawn (ADR 0163)


def _round_slots(seed: str, n: int, m: int, p: int) -> tuple[Any, Any]:
    """:func:`rounds` as positions: target ``order[j]`` takes the pool members ``slots[j]``
    (positions in the sorted pool, ascending). The ``SHUFFLED_ROUNDS`` of plan formats up to 4:
    one legacy ``shuffle`` per round, a Python call each (format 5: :func:`_keyed_slots`)."""
    rng = _generator(seed)
    order = rng.permutation(n)
    # rng.permutation(m) per row, in place: the same legacy shuffle of the same arange (the same
    # draws), less than half the calls' overhead, no list to concatenate (ADR 0153)
    perms = np.tile(np.arange(m, dtype=np.int64), (-(-n * p // m), 1))
    shuffle = rng.shuffle
    for row in perms:
        shuffle(row)
    _fix_straddles(perms, m, p)
    slots = np.sort(perms.reshape(-1)[: n * p].reshape(n, p), axis=1)
    return order, slots


def _keyed_slots(seed: str, sizes: Sequence[tuple[int, int]], p: int) -> tuple[Any, Any]:
    """What :func:`_round_slots` gives each pool, for every pool of a plan at once (plan format
    5, ADR 0163): pool ``i`` has ``sizes[i] = (n, m)`` targets and members, its targets follow
    the previous pools' in one concatenation. One legacy MT19937 per plan, seeded from SHA-256
    over a domain and ``seed``, draws every target's key (a pool's targets in key order take the
    slots in turn), then, pools of one size together (sizes ascending, pools in their order),
    ``m`` keys per round whose order (``argsort``, stable: even a tie of two 53-bit keys has one
    answer) is the round's permutation. As uniform as a shuffle, reproducible from the seed on
    any numpy (the legacy ``RandomState`` stream is frozen), and a few numpy calls for the whole
    plan instead of a generator and a dozen calls per pool.

    Returns ``(order, slots)``, pool after pool: target ``order[j]`` (a position in the
    concatenation, inside its pool's range) takes the members ``slots[j]`` (positions in its
    pool's sorted members, ascending)."""
    rng = _generator(seed, keyed=True)
    n = np.array([a for a, _ in sizes], dtype=np.int64)
    m = np.array([b for _, b in sizes], dtype=np.int64)
    target_keys = rng.random_sample(int(n.sum()))
    rounds_of = -(-n * p // m)
    perms: dict[int, Any] = {}
    for width in np.unique(m).tolist():  # pools of one size together, smallest first
        same = np.flatnonzero(m == width)
        keys = rng.random_sample((int(rounds_of[same].sum()), width))
        rows = np.argsort(keys, axis=1, kind="stable")
        _fix_stacked(rows, rounds_of[same], width, p)
        for i, part in zip(same.tolist(), _parts(rows, rounds_of[same]), strict=True):
            perms[i] = part
    windows = [perms[i].reshape(-1)[: size * p].reshape(size, p) for i, (size, _) in enumerate(sizes)]
    return _part_orders(target_keys, n), _sorted_rows(np.concatenate(windows))  # one pass each


def _parts(a: Any, counts: Any) -> list[Any]:
    """``a`` cut into consecutive views of ``counts`` rows (``np.split`` costs ~7 µs a part)."""
    ends = np.cumsum(counts).tolist()
    return [a[lo:hi] for lo, hi in zip([0, *ends[:-1]], ends, strict=True)]


_PART_BITS = 10  # bits above a 53-bit key in an int64 sort key


def _part_orders(keys: Any, counts: Any) -> Any:
    """Each part's stable ``argsort`` (part ``i``: the next ``counts[i]`` keys), as positions in
    ``keys``, concatenated. One stable sort of (part, key) composites per 1,024 parts instead
    of a sort per part: ``keys`` come from ``random_sample``, multiples of 2**-53, so
    ``key * 2**53`` is an exact 53-bit integer and the part's number fits above it; equal keys
    keep their order, as in the part's own stable sort."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.concatenate([np.zeros(1, dtype=np.int64), np.cumsum(counts)])
    out = np.empty(len(keys), dtype=np.int64)
    step = 1 << _PART_BITS
    for g in range(0, len(counts), step):
        lo, hi = int(starts[g]), int(starts[min(g + step, len(counts))])
        part = np.repeat(np.arange(len(counts[g : g + step]), dtype=np.int64), counts[g : g + step])
        composite = (part << 53) | (keys[lo:hi] * 2.0**53).astype(np.int64)
        out[lo:hi] = np.argsort(composite, kind="stable") + lo
    return out


def _sorted_rows(a: Any) -> Any:
    """``np.sort(a, axis=1)`` for an integer matrix: narrow rows (a target's ``per_target``
    slots) by an odd-even transposition network of column-wise minima and maxima, since
    ``np.sort`` along rows pays a call per row (1.5 ms for 40k rows of two, against 0.05 ms)."""
    width = a.shape[1]
    if width > 6:
        return np.sort(a, axis=1)
    out = np.array(a, dtype=a.dtype, order="F")  # columns contiguous: each step is two vector ops
    for step in range(width):
        for j in range(step % 2, width - 1, 2):
            lo = np.minimum(out[:, j], out[:, j + 1])
            np.maximum(out[:, j], out[:, j + 1], out=out[:, j + 1])
            out[:, j] = lo
    return np.ascontiguousarray(out)


def _fix_straddles(perms: Any, m: int, p: int) -> None:
    """In place: a window of ``p`` slots that straddles two rounds could name an inspector twice;
    the repeat in the later round is swapped with a later position of the same round (its
    counts unchanged). With ``m`` a multiple of ``p`` no window straddles two rounds."""
    if not m % p:
        return
    for r in _straddling_repeats(perms, m, p):
        _fix_row(perms, r, m, p)


def _fix_row(perms: Any, r: int, m: int, p: int) -> None:
    """:func:`_fix_straddles` of row ``r``."""
    start = r * m  # first slot of perms[r]; the window holding it begins at a multiple of p
    head = start - start % p
    if head == start:
        return
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


def _fix_stacked(rows: Any, counts: Any, m: int, p: int) -> None:
    """:func:`_fix_straddles` of each pool of ``m`` members, the pools' rounds stacked in
    ``rows`` (``counts[i]`` rows each): for ``m >= 2p`` the repeats of every pool are found
    at once (pools are independent, and a fix never reaches the next window)."""
    if not m % p:
        return
    if m < 2 * p:
        for part in _parts(rows, counts):
            _fix_straddles(part, m, p)
        return
    parts = _parts(rows, counts)
    for i, r in _stacked_repeats(rows, counts, m, p):
        _fix_row(parts[i], r, m, p)


def _straddling_repeats(perms: Any, m: int, p: int) -> list[int]:
    """The rows ``r >= 1`` of ``perms`` whose first slots may repeat an inspector of the window
    they share with row ``r - 1``: every row (the loop's first version) unless ``m >= 2p``, when
    a fix of one row never reaches the slots the next window reads, so only the rows that repeat
    one now need the loop (about one in ``m``; the others pass through it unchanged)."""
    if m < 2 * p or len(perms) < 2:
        return list(range(1, len(perms)))
    return [r for _, r in _stacked_repeats(perms, [len(perms)], m, p)]


def _stacked_repeats(rows: Any, counts: Any, m: int, p: int) -> list[tuple[int, int]]:
    """:func:`_straddling_repeats` (``m >= 2p``) of pools stacked in ``rows`` (``counts[i]``
    rows each), as (pool, row in the pool)."""
    counts = np.asarray(counts, dtype=np.int64)
    local = np.arange(len(rows), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    g = np.flatnonzero(local >= 1)  # a pool's first round straddles nothing before it
    r = local[g]
    a = (r * m) % p  # slots of the straddling window in row r - 1 (0: no straddle)
    hit = np.zeros(len(g), dtype=bool)
    for u in range(p - 1):  # the window's slots in row r - 1: m - a + u, u < a
        tail = rows[g - 1, np.minimum(m - a + u, m - 1)]
        for k in range(p - 1):  # ... and in row r: k < p - a
            hit |= (u < a) & (k < p - a) & (tail == rows[g, k])
    pool = np.repeat(np.arange(len(counts), dtype=np.int64), counts)[g[hit]]
    return list(zip(pool.tolist(), r[hit].tolist(), strict=True))


def covers(inspector: RosterInspector, area: str) -> bool:
    """The inspector's office lies in ``area`` or covers all of it."""
    return _covers(inspector.prefix, area)


def _covers(prefix: str, area: str) -> bool:
    return prefix.startswith(area) or area.startswith(prefix)


def draw_day(as_of: dt.datetime) -> dt.date:
    """The draw day in China time (inspectors are on the roster by calendar day)."""
    return as_of.astimezone(dt.timezone(dt.timedelta(hours=8))).date()


def staff(
    seed: str,
    targets: Sequence[tuple[str, str]],
    roster: Roster,
    rules: Rules,
    round_draw: int = SHUFFLED_ROUNDS,
) -> Staffing:
    """Inspectors for ``targets`` (``(uscc, region_code)`` pairs): a pure function of its arguments."""
    codes = string_array([c for c, _ in targets])
    return staff_columns(seed, codes, string_array([r for _, r in targets]), roster, rules, round_draw)


@dataclass(frozen=True)
class _Pools:
    """What staffing derives from the roster alone, kept across plans of the same roster, field
    and day (before, every plan re-derived each area's pool from every inspector)."""

    qualified: list[RosterInspector]  # active on the day and qualified, in roster order
    ids: tuple[str, ...]  # their ids, sorted
    position: dict[str, int]  # id → index in ``ids``
    conflicted: dict[str, set[str]]  # entity → ids of the qualified inspectors recusing
    areas: dict[str, tuple[str, ...]]  # area → ids of the inspectors covering it (filled lazily)
    members: dict[tuple[str, ...], Any]  # pool → :meth:`members_of` (filled lazily)
    by_id: dict[str, RosterInspector]  # id → the qualified inspector

    def members_of(self, pool: tuple[str, ...]) -> Any:
        """The pool's positions in ``ids``, ascending (= its ids sorted), made once per pool."""
        hit = self.members.get(pool)
        if hit is None:
            hit = self.members[pool] = np.array(sorted(self.position[i] for i in pool), dtype=np.int64)
        return hit

    def pool_of(self, area: str) -> tuple[str, ...]:
        hit = self.areas.get(area)
        if hit is None:
            hit = self.areas[area] = tuple(i.id for i in self.qualified if _covers(i.prefix, area))
        return hit


_pools_cache: OrderedDict[tuple[str, str, dt.date], _Pools] = OrderedDict()
_pools_lock = threading.Lock()


def _pools(roster: Roster, field: str, day: dt.date) -> _Pools:
    key = (roster.digest(), field, day)
    with _pools_lock:
        hit = _pools_cache.get(key)
        if hit is not None:
            _pools_cache.move_to_end(key)
            return hit
    qualified = [i for i in roster.inspectors if field in i.fields and i.active_on(day)]
    ids = tuple(sorted(i.id for i in qualified))
    conflicted: dict[str, set[str]] = {}
    for ins in qualified:
        for code in ins.conflicts:
            conflicted.setdefault(code, set()).add(ins.id)
    position = {i: k for k, i in enumerate(ids)}
    made = _Pools(qualified, ids, position, conflicted, {}, {}, {i.id: i for i in qualified})
    with _pools_lock:
        _pools_cache[key] = made
        while len(_pools_cache) > 16:
            _pools_cache.popitem(last=False)
    return made


def staff_columns(
    seed: str, uscc: Any, region: Any, roster: Roster, rules: Rules, round_draw: int = SHUFFLED_ROUNDS
) -> Staffing:
    """:func:`staff` over Arrow string columns (the plan's targets), grouped and assigned with
    numpy: the same assignment, bit for bit (a test pins it), without a Python object per
    target. Codes are distinct (entities of one frame). ``round_draw``: ``SHUFFLED_ROUNDS``
    (:func:`_round_slots`, plan formats up to 4) or ``KEYED_ROUNDS`` (:func:`_keyed_slots`)."""
    uscc = uscc.combine_chunks() if isinstance(uscc, pa.ChunkedArray) else uscc
    region = region.combine_chunks() if isinstance(region, pa.ChunkedArray) else region
    if region.null_count:
        raise ValueError("every target needs a region_code")
    if round_draw not in (SHUFFLED_ROUNDS, KEYED_ROUNDS):
        raise ValueError(f"unknown round draw {round_draw!r}")
    day = draw_day(roster.as_of)
    pools = _pools(roster, rules.field, day)
    conflicted, p, n = pools.conflicted, rules.per_target, len(uscc)
    enc = pc.dictionary_encode(region)
    names: list[str] = enc.dictionary.to_pylist()
    rank = np.empty(len(names), dtype=np.int64)
    rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(len(names), dtype=np.int64)
    ind = enc.indices
    region_rank = rank[np.frombuffer(ind.buffers()[1], dtype=np.int32, count=n, offset=ind.offset * 4)]
    # targets grouped by region, in target order: numpy's stable sort of 16-bit integers is a
    # radix sort (0.3 ms for 40k targets, 1.7 ms as int64)
    narrow = region_rank.astype(np.int16) if len(names) < 2**15 else region_rank
    by_region = np.argsort(narrow, kind="stable")
    positions = _parts(by_region, np.bincount(region_rank, minlength=len(names)))  # per region, sorted
    regions = sorted(names)
    recusing: dict[int, list[str]] = {}  # region rank → its targets with a recusing inspector
    if conflicted and n:
        hit = np.flatnonzero(_mask(pc.is_in(uscc, value_set=string_array(sorted(conflicted)))))
        for k, code in zip(hit.tolist(), uscc.take(int64_numpy(hit)).to_pylist(), strict=True):
            recusing.setdefault(int(region_rank[k]), []).append(code)
    chosen: dict[tuple[str, ...], list[int]] = {}  # pool (ids) → region ranks
    levels = dict.fromkeys(LEVELS, 0)
    failed: list[dict[str, Any]] = []
    for r, name in enumerate(regions):
        count = len(positions[r])
        codes = recusing.get(r, [])
        for level in LEVELS:
            pool = pools.pool_of(name[: _AREA_LENGTH[level]])
            if len(pool) < p:
                short = count
            elif codes:
                ids = set(pool)
                short = sum(1 for c in codes if len(ids - conflicted[c]) < p)
            else:
                short = 0
            big_enough = len(pool) >= rules.min_pool or level == LEVELS[-1]
            if big_enough and not short:
                chosen.setdefault(pool, []).append(r)
                levels[level] += 1
                break
        else:
            failed.append(
                {
                    "region_code": name,
                    "targets": count,
                    "eligible_inspectors": len(pool),
                    "unstaffable": short,
                }
            )
    if failed:
        raise Unprocessable(
            f"{len(failed)} region(s) cannot be staffed with {p} inspectors qualified for "
            f"{rules.field!r}, active on {day.isoformat()} and free of conflicts",
            field="inspectors",
            inspector_field=rules.field,
            per_target=p,
            qualified_inspectors=len(pools.qualified),
            regions=failed[:50],
            regions_count=len(failed),
        )
    by_id = pools.by_id
    matrix = np.zeros((n, p), dtype=np.int64)
    used: list[Any] = []  # the member positions of every pool used
    keyed: list[tuple[Any, Any]] = []  # (targets, members) of the pools staffed by keyed rounds
    for pool, ranks in sorted(chosen.items(), key=lambda kv: regions[kv[1][0]]):
        at = np.concatenate([positions[r] for r in ranks])  # the pool's targets: region, then order
        pool_seed = f"{seed}/{regions[ranks[0]]}"
        members = pools.members_of(pool)
        codes_here = [c for r in ranks for c in recusing.get(r, ())]
        ids = set(pool) if codes_here else set()
        if len(pool) >= 2 * p and not any(conflicted[c] & ids for c in codes_here):
            if round_draw == KEYED_ROUNDS:  # all such pools at once, below
                keyed.append((at, members))
            else:
                order, slots = _round_slots(pool_seed, len(at), len(pool), p)
                matrix[at[order]] = members[slots]
        else:
            codes = uscc.take(int64_numpy(at)).to_pylist()
            inspectors = [Inspector(i, by_id[i].region_code, by_id[i].conflicts) for i in pool]
            got = assign(pool_seed, codes, inspectors, p)
            matrix[at] = np.array([[pools.position[i] for i in got[c]] for c in codes], dtype=np.int64)
        used.append(members)
    if keyed:  # every keyed pool in one assignment: targets and members concatenated
        per_pool = np.array([len(at) for at, _ in keyed], dtype=np.int64)
        widths = np.array([len(members) for _, members in keyed], dtype=np.int64)
        orders, slots = _keyed_slots(seed, list(zip(per_pool.tolist(), widths.tolist(), strict=True)), p)
        first_member = np.repeat(np.cumsum(widths) - widths, per_pool)  # each slot row's pool
        targets_at = np.concatenate([at for at, _ in keyed])[orders]
        matrix[targets_at] = np.concatenate([members for _, members in keyed])[slots + first_member[:, None]]
    counts = (
        np.bincount(matrix.ravel(), minlength=len(pools.ids)) if n else np.zeros(len(pools.ids), np.int64)
    )
    every = np.unique(np.concatenate(used)) if used else np.zeros(0, dtype=np.int64)
    loads = {pools.ids[g]: int(counts[g]) for g in every.tolist()}
    return Staffing(pools.ids, matrix, loads, levels, len(pools.qualified))


def _mask(col: Any) -> Any:
    """A boolean Arrow array without nulls as numpy."""
    bits = np.unpackbits(np.frombuffer(col.buffers()[1], dtype=np.uint8), bitorder="little")
    return bits[col.offset : col.offset + len(col)].astype(bool)
