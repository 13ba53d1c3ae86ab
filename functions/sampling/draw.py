"""The draw: a pure function of (seed, frame) → positions per stratum (docs/adr/0041).

Generator: Python's Mersenne Twister (``random.Random``) seeded with the integer value of
SHA-256(``"creditrisk-sampling/1" NUL label NUL seed``), one independent stream per stratum
(label = the class), so changing one class's ratio never changes another class's sample.
Only ``random()`` is documented as reproducible across Python versions, so integers are built
from it here (exact rejection sampling on its 53 bits) and the subset is chosen with Floyd's
algorithm (uniform k-subset, O(k) time and memory) — no ``randrange``/``sample``/``shuffle``.
"""

from __future__ import annotations

import hashlib
import math
import random
import secrets
from collections.abc import Mapping
from fractions import Fraction

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


def stream(seed: str, label: str) -> random.Random:
    """The generator of one stratum (or of the inspector draw)."""
    digest = hashlib.sha256(_DOMAIN + b"\0" + label.encode("utf-8") + b"\0" + seed.encode("utf-8")).digest()
    return random.Random(int.from_bytes(digest, "big"))


def uniform_below(rng: random.Random, n: int) -> int:
    """An exactly uniform integer in ``[0, n)`` built from ``random()`` (53 random bits each)."""
    if n <= 0:
        raise ValueError("n must be positive")
    if n == 1:
        return 0
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


def draw(seed: str, populations: Mapping[str, int], ratios: Mapping[str, float]) -> dict[str, list[int]]:
    """Positions drawn in each stratum (sorted); strata without a ratio draw nothing."""
    out: dict[str, list[int]] = {}
    for cls in sorted(populations):
        n = populations[cls]
        ratio = ratios.get(cls)
        k = 0 if ratio is None else sample_size(n, ratio)
        out[cls] = floyd_sample(stream(seed, cls), n, k) if k else []
    return out
