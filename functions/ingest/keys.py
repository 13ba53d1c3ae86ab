"""Duplicate dataset keys across a whole file read in batches, in memory of 8 bytes per row.

A streamed ingest sees one batch at a time, but a key may repeat anywhere in the file. Each row's
key is reduced to a 64-bit hash (numpy, vectorised over the Arrow buffers); at the end of the
file the hashes are sorted and rows whose hash occurs more than once are *candidates*. Equal
hashes are not proof: the candidates' real keys are gathered in a second read and compared
exactly (``validate.duplicate_mask``), so a hash collision can never reject a row
(docs/adr/0084). Rows with a null key component never match, as in ``duplicate_mask``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_NO_KEY = np.uint64(0)  # hash of a row whose key has a null component
_CHUNK_ROWS = 1 << 18  # rows per step (the per-byte temporaries are bounded by _SPAN_BYTES)
_P = np.uint64(0x100000001B3)  # FNV prime: odd, so the polynomial is a bijection per position
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads every input bit over the whole word."""
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    out: np.ndarray = h ^ (h >> np.uint64(31))
    return out


# Value bytes hashed at once: their uint64 weights (8 bytes per byte, 1 MB) stay in the core's
# L2 cache (1 MB spans: 0.107 CPU s per 1M keys of the bench file; 128 KB: 0.05-0.065, ADR 0136).
_SPAN_BYTES = 1 << 17


def _inverse(p: np.uint64) -> np.uint64:
    """``p``⁻¹ mod 2**64 (``p`` odd), by Newton's iteration."""
    inv = p
    with np.errstate(over="ignore"):
        for _ in range(6):
            inv = inv * (np.uint64(2) - p * inv)
    return inv


_POW: np.ndarray = np.empty(0, dtype=np.uint64)
_INV: np.ndarray = np.empty(0, dtype=np.uint64)


def _tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``_P**i`` and ``_P**-i`` (mod 2**64) for i < n, grown on demand and kept."""
    global _POW, _INV
    if len(_POW) < n:
        size = max(n, _SPAN_BYTES)
        with np.errstate(over="ignore"):
            _POW = np.cumprod(np.full(size, _P, dtype=np.uint64)) * _inverse(_P)  # P**0 … P**(n-1)
            _INV = np.cumprod(np.full(size, _inverse(_P), dtype=np.uint64)) * _P
    return _POW, _INV


def _text_hash(arr: pa.Array) -> np.ndarray:
    """A 64-bit hash of each value's UTF-8 bytes (null slots: arbitrary, masked by the caller).

    Σ bᵢ·Pⁱ over the value's bytes, computed for a whole span of values at once: the bytes are
    weighted by their position in the span, summed per value (``reduceat``) and shifted back to
    the value's own start by P⁻ˢᵗᵃʳᵗ, so equal values hash equally wherever they sit."""
    n = len(arr)
    off = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    lengths = np.diff(off)
    out = np.zeros(n, dtype=np.uint64)
    row = 0
    while row < n:
        # rows [row, stop) whose bytes fit one span (at least one row)
        stop = max(row + 1, int(np.searchsorted(off, off[row] + _SPAN_BYTES, side="right")) - 1)
        stop = min(stop, n)
        base = off[row]
        lens = lengths[row:stop]
        nonempty = lens > 0
        if nonempty.any():
            span = data[base : off[stop]]
            pow_, inv = _tables(len(span))
            starts = off[row:stop][nonempty] - base
            with np.errstate(over="ignore"):
                weighted = span.astype(np.uint64) * pow_[: len(span)]
                out[row:stop][nonempty] = np.add.reduceat(weighted, starts) * inv[starts]
        row = stop
    with np.errstate(over="ignore"):
        return _mix(out ^ (lengths.astype(np.uint64) * _GOLD))


def key_hashes(keys: list[pa.Array]) -> np.ndarray:
    """One uint64 per row; 0 for rows with a null key component (real hashes of 0 become 1)."""
    n = len(keys[0]) if keys else 0
    h = np.zeros(n, dtype=np.uint64)
    valid = np.ones(n, dtype=bool)
    for start in range(0, n, _CHUNK_ROWS):
        stop = min(n, start + _CHUNK_ROWS)
        acc = np.zeros(stop - start, dtype=np.uint64)
        for col in keys:
            part = col.slice(start, stop - start)
            if part.type != pa.string():
                part = pc.cast(part, pa.string())
            with np.errstate(over="ignore"):
                acc = _mix(acc * _P + _text_hash(part))
            if part.null_count:
                valid[start:stop] &= np.asarray(part.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        h[start:stop] = acc
    h[h == _NO_KEY] = np.uint64(1)
    h[~valid] = _NO_KEY
    return h


class KeyIndex:
    """Every row's key hash in file order; ``candidates()`` names rows that may be duplicates.

    Each part is sorted as it is added (the pipeline adds from its hashing thread, beside the
    validation), so the end of the file only merges sorted runs: a serial 0.065 CPU s sort of 1M
    hashes becomes a 0.018 s merge (docs/adr/0136)."""

    def __init__(self) -> None:
        self._parts: list[np.ndarray] = []  # file order
        self._sorted: list[np.ndarray] = []  # each part sorted
        self.rows = 0

    def add(self, hashes: np.ndarray) -> None:
        self._parts.append(hashes)
        self._sorted.append(np.sort(hashes))
        self.rows += len(hashes)

    def candidates(self) -> np.ndarray:
        """Sorted row numbers (0-based, over the whole file) whose key hash occurs twice or more."""
        if not self._parts:
            return np.zeros(0, dtype=np.int64)
        s = np.concatenate(self._sorted) if len(self._sorted) > 1 else self._sorted[0]
        self._sorted = []  # with the parts: the check's peak, 16 bytes per row (+4 for the merge)
        s.sort(kind="stable")  # timsort: merges the sorted runs
        same = s[1:] == s[:-1]
        repeated = np.unique(s[1:][same])
        del s, same
        repeated = repeated[repeated != _NO_KEY]
        if not len(repeated):
            return np.zeros(0, dtype=np.int64)
        # membership by binary search, a slice at a time (``np.isin`` may sort everything again)
        found = []
        start = 0
        for hashes in self._parts:
            for lo in range(0, len(hashes), _CHUNK_ROWS):
                part = hashes[lo : lo + _CHUNK_ROWS]
                pos = np.searchsorted(repeated, part)
                pos[pos == len(repeated)] = 0
                found.append(np.flatnonzero(repeated[pos] == part) + start + lo)
            start += len(hashes)
        return np.concatenate(found).astype(np.int64)
