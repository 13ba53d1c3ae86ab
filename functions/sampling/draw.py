"""The draw: a pure function of (seed, frame) → positions per stratum (docs/adr/0041).

Generator: Python's Mersenne Twister (``random.Random``) seeded with the integer value of
SHA-256(``"creditrisk-sampling/1" NUL label NUL seed``), one independent stream per stratum
(label = the class), so changing one class's ratio never changes another class's sample.
Only ``random()`` is documented as reproducible across Python versions, so integers are built
from it here (exact rejection sampling on its 53 bits) and the subset is chosen with Floyd's
algorithm (uniform k-subset, O(k) time and memory) — no ``randrange``/``sample``/``shuffle``.

Speed (docs/adr/0045): numpy's legacy ``RandomState`` is the same MT19937 with the same
``init_by_array`` seeding and the same 53-bit ``random_sample`` as CPython's ``random()``, so
:func:`floyd_positions` draws a stratum's numbers in one vectorised call and runs only Floyd's
collision step in Python. It yields exactly the numbers of the reference loop in
:func:`floyd_sample` (a test compares both over many seeds) and falls back to that loop in the
cases it does not cover (a rejected draw, a single-word seed, populations beyond 2**53).
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
import threading
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

ALGORITHM = "creditrisk-sampling/1 (sha256 → mt19937 random(), exact rejection, Floyd)"
_DOMAIN = b"creditrisk-sampling/1"
_BITS = 53
_SPAN = 1 << _BITS


def new_seed() -> str:
    """A fresh seed for a request that brought none (128 bits from ``secrets``)."""
    return secrets.token_hex(16)


def exact_ratio(ratio: float) -> Fraction:
    """The decimal the caller wrote (``0.07`` → 7/100), not the nearest binary float."""
    return Fraction(repr(float(ratio)))


def sample_size(population: int, ratio: float) -> int:
    """``min(population, ceil(population × ratio))`` in exact arithmetic."""
    if population <= 0 or ratio <= 0:
        return 0
    return min(population, math.ceil(population * exact_ratio(ratio)))


def _seed_int(seed: str, label: str) -> int:
    digest = hashlib.sha256(_DOMAIN + b"\0" + label.encode("utf-8") + b"\0" + seed.encode("utf-8")).digest()
    return int.from_bytes(digest, "big")


def stream(seed: str, label: str) -> random.Random:
    """The generator of one stratum (or of the inspector draw)."""
    return random.Random(_seed_int(seed, label))


def _numpy_stream(seed: str, label: str) -> Any:
    """The same generator as :func:`stream` as a numpy ``RandomState``, or ``None``.

    CPython seeds with ``init_by_array`` over the integer's 32-bit words, least significant first
    (``max(1, ceil(bits / 32))`` of them); numpy does the same for an array of two or more words
    but treats a single word as a scalar seed (``init_genrand``), so that case has no twin.
    """
    value = _seed_int(seed, label)
    nwords = (value.bit_length() + 31) // 32
    if nwords < 2:
        return None
    words = np.array([(value >> (32 * i)) & 0xFFFFFFFF for i in range(nwords)], dtype=np.uint32)
    return seeded_state(words, "strata")


_states = threading.local()


def seeded_state(words: Any, slot: str) -> Any:
    """numpy's legacy ``RandomState`` seeded from the uint32 ``words`` (``init_by_array``): one per
    thread and ``slot``, re-seeded for each use. Constructing one first seeds it from OS entropy
    (0.1 ms, once per stratum or pool per plan before); ``seed()`` runs the same
    ``init_by_array``. A slot's state is valid until its next use in the thread."""
    rng = getattr(_states, slot, None)
    if rng is None:
        rng = np.random.RandomState(words)
        setattr(_states, slot, rng)
    else:
        rng.seed(words)
    return rng


def uniform_below(rng: random.Random, n: int) -> int:
    """An exactly uniform integer in ``[0, n)`` built from ``random()`` (53 random bits each)."""
    if n <= 0:
        raise ValueError("n must be positive")
    if n == 1:
        return 0
    if n <= _SPAN:  # one word (the loop below with words == 1, without its bookkeeping)
        limit = _SPAN - _SPAN % n
        x = int(rng.random() * _SPAN)
        while x >= limit:
            x = int(rng.random() * _SPAN)
        return x % n
    # Concatenate 53-bit words until the range is covered, then reject the biased tail.
    words = max(1, math.ceil(n.bit_length() / _BITS))
    span = _SPAN**words
    limit = span - span % n
    while True:
        x = 0
        for _ in range(words):
            x = (x << _BITS) | int(rng.random() * _SPAN)
        if x < limit:
            return x % n


def floyd_sample(rng: random.Random, population: int, k: int) -> list[int]:
    """A uniformly random k-subset of ``range(population)`` (Floyd), returned sorted."""
    if not 0 <= k <= population:
        raise ValueError("k must be within [0, population]")
    chosen: set[int] = set()
    if population <= _SPAN:
        # Hot loop: uniform_below inlined for ranges within one 53-bit word (same numbers).
        rand, span, add = rng.random, _SPAN, chosen.add
        for j in range(population - k, population):
            n = j + 1
            if n == 1:  # like uniform_below: no draw for a single choice
                add(0)
                continue
            limit = span - span % n
            x = int(rand() * span)
            while x >= limit:
                x = int(rand() * span)
            t = x % n
            add(j if t in chosen else t)
        return sorted(chosen)
    for j in range(population - k, population):
        t = uniform_below(rng, j + 1)
        chosen.add(j if t in chosen else t)
    return sorted(chosen)


def floyd_positions(seed: str, label: str, population: int, k: int) -> Any:
    """``floyd_sample(stream(seed, label), population, k)`` as a sorted int64 numpy array, fast."""
    if not 0 <= k <= population:
        raise ValueError("k must be within [0, population]")
    rs = _numpy_stream(seed, label) if population <= _SPAN else None
    if k == 0 or rs is None:
        return np.array(floyd_sample(stream(seed, label), population, k), dtype=np.int64)
    first = population - k
    # j = 0 (n = 1) takes no number from the generator; every later step takes exactly one
    # unless rejected, and a rejection (probability < n / 2**53) sends us to the reference loop.
    start = 1 if first == 0 else first
    n = np.arange(start + 1, population + 1, dtype=np.int64)
    x = (rs.random_sample(len(n)) * float(_SPAN)).astype(np.int64)
    if bool(np.any(x >= _SPAN - _SPAN % n)):
        return np.array(floyd_sample(stream(seed, label), population, k), dtype=np.int64)
    return _floyd_vectorised(first, population, start, x % n)


def _floyd_vectorised(first: int, population: int, start: int, t: Any) -> Any:
    """The set Floyd's loop ends with, from its numbers ``t[j - start]`` for ``j`` in ``[start, N)``.

    Every number drawn ends up chosen (it is added, or already was); besides them, step ``v``
    adds ``v`` itself exactly when ``t_v == v`` or ``t_v`` was already chosen, i.e. when ``t_v``
    was drawn at an earlier step or is an earlier ``w >= first`` whose own step added ``w``.
    That recursion only looks back (``t_v < v``), so iterating it to a fixed point is exact.
    """
    j = np.arange(start, population, dtype=np.int64)
    ordered, order = _stable_order(t, population)  # np.unique(t, return_index=True), unhashed
    firsts = _firsts(ordered)
    uniq, first_at = ordered[firsts], order[firsts]
    seen = np.ones(len(t), dtype=bool)
    seen[first_at] = False  # t_v also drawn at an earlier step
    if first == 0:
        seen |= t == 0  # step 0 took no number and added 0
    self_step = (t == j) | seen
    lookup = (t >= start) & (t < j)  # t_v is an earlier step whose own outcome matters
    ref = np.where(lookup, t - start, 0)
    added = self_step.copy()
    while True:
        nxt = self_step | (lookup & added[ref])
        if np.array_equal(nxt, added):
            break
        added = nxt
    parts = [uniq, j[added]]
    if first == 0:
        parts.append(np.zeros(1, dtype=np.int64))  # step 0 takes no number and adds 0
    # each part is sorted: a stable sort (timsort) merges their runs in one linear pass
    out = np.sort(np.concatenate(parts), kind="stable")
    return out[_firsts(out)]


def _firsts(ordered: Any) -> Any:
    """A mask of the first of each run of equal values in the sorted ``ordered``."""
    firsts = np.ones(len(ordered), dtype=bool)
    firsts[1:] = ordered[1:] != ordered[:-1]
    return firsts


def _stable_order(t: Any, bound: int) -> tuple[Any, Any]:
    """``(t[order], order)`` with ``order = np.argsort(t, kind="stable")`` for ``0 <= t < bound``:
    one plain sort of ``t × len(t) + index`` (distinct keys, so any sort gives the stable order)
    when that fits in 63 bits, about half a stable argsort's cost, and no gather after it."""
    n = len(t)
    if n and bound <= (1 << 62) // n:
        keys = t * n
        keys += np.arange(n, dtype=np.int64)
        keys.sort()
        ordered, order = np.divmod(keys, n)
        return ordered, order
    order = np.argsort(t, kind="stable")
    return t[order], order


def draw_positions(seed: str, populations: Mapping[str, int], ratios: Mapping[str, float]) -> dict[str, Any]:
    """Positions drawn in each stratum as sorted int64 numpy arrays (see :func:`draw`)."""
    out: dict[str, Any] = {}
    for cls in sorted(populations):
        n = populations[cls]
        ratio = ratios.get(cls)
        k = 0 if ratio is None else sample_size(n, ratio)
        out[cls] = floyd_positions(seed, cls, n, k)
    return out


def draw(seed: str, populations: Mapping[str, int], ratios: Mapping[str, float]) -> dict[str, list[int]]:
    """Positions drawn in each stratum (sorted); strata without a ratio draw nothing."""
    return {
        cls: [int(v) for v in pos.tolist()] for cls, pos in draw_positions(seed, populations, ratios).items()
    }
